package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestWaitVerb: `wait` returns as soon as the watch shows the condition,
// prints kubectl's lines, times out with kubectl's message and exit code 1,
// and --for=delete returns once the pod is gone.
func TestWaitVerb(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	apply(t, podYAML("wait-a", "Always", foreverScript))
	apply(t, podYAML("wait-b", "Always", foreverScript))
	start := time.Now()
	out := run(t, "wait", "--for=condition=Ready", "pod/wait-a", "pod/wait-b", "--timeout=60s")
	if out != "pod/wait-a condition met\npod/wait-b condition met\n" {
		t.Errorf("wait Ready: %q", out)
	}
	t.Logf("apply → Ready seen by wait: %v", time.Since(start))
	out = run(t, "wait", "--for=jsonpath='{.status.phase}'=Running", "pods", "wait-a")
	if out != "pod/wait-a condition met\n" {
		t.Errorf("wait jsonpath: %q", out)
	}
	ctx := context.Background()
	stdout, stderr, err := x.cli(ctx, "wait", "--for=condition=Ready=false", "pod/wait-a", "--timeout=500ms")
	if err == nil || !strings.Contains(err.Error(), "exit status 1") || stdout != "" ||
		stderr != "error: timed out waiting for the condition on pods/wait-a\n" {
		t.Errorf("timeout: err %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	done := make(chan string, 1)
	go func() {
		out, _, err := x.cli(ctx, "wait", "--for=delete", "pod/wait-b", "--timeout=60s")
		if err != nil {
			out = err.Error()
		}
		done <- out
	}()
	time.Sleep(300 * time.Millisecond)
	run(t, "delete", "pod", "wait-b", "--wait=false", "--grace-period=1")
	if out := <-done; out != "pod/wait-b condition met\n" {
		t.Errorf("wait --for=delete: %q", out)
	}
}
