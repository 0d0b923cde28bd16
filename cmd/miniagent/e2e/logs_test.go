package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestLogsAcrossRestarts: each container instance has its own CRI-format
// log file under the pod logs dir, `logs --previous` shows the instance
// before the current one, and `logs -f` ends when the container exits.
func TestLogsAcrossRestarts(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	apply(t, podYAML("logs-restart", "OnFailure",
		`echo "run $(cat /proc/sys/kernel/random/uuid)"; sleep 0.1; echo oops >&2; printf 'no newline'; sleep 2; exit 1`))
	p := waitPod(t, "logs-restart", 60*time.Second, "one restart", func(p *v1.Pod) bool {
		cs := containerStatus(p, "main")
		return cs != nil && cs.RestartCount >= 1 && cs.State.Running != nil
	})
	cur := logs(t, "logs-restart", "main")
	prev := logs(t, "logs-restart", "main", "--previous")
	if !strings.Contains(cur, "run ") || !strings.Contains(prev, "run ") || cur == prev {
		t.Fatalf("current and previous logs should be two different runs:\ncurrent: %q\nprevious: %q", cur, prev)
	}
	if !strings.Contains(prev, "oops\n") || !strings.Contains(prev, "no newline") {
		t.Errorf("previous log lacks stderr or the partial last line: %q", prev)
	}
	// On disk: /var/log/pods/<ns>_<name>_<uid>/<container>/<restartCount>.log in CRI format.
	file := filepath.Join(x.logsDir, fmt.Sprintf("default_logs-restart_%s", p.UID), "main", "0.log")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (stdout|stderr) [FP] `)
	var stderrSeen, partialSeen bool
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !line.MatchString(l) {
			t.Errorf("not a CRI log line: %q", l)
		}
		stderrSeen = stderrSeen || strings.Contains(l, " stderr F oops")
		partialSeen = partialSeen || strings.Contains(l, " stdout P no newline")
	}
	if !stderrSeen || !partialSeen {
		t.Errorf("CRI log lacks the stderr line or the partial record:\n%s", data)
	}

	// -f follows the running instance and returns once it exits.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, x.bin, "--socket", x.socket, "logs", "-f", "logs-restart")
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("logs -f: %v", err)
	}
	if !strings.Contains(string(out), "run ") || time.Since(start) > 15*time.Second {
		t.Errorf("logs -f returned %q after %v", out, time.Since(start))
	}
}

// TestGracefulDelete: delete sends SIGTERM, waits for the exit within the
// grace period; a container ignoring SIGTERM is killed when it ends.
func TestGracefulDelete(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: delete-graceful
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: polite
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.2; done"]
  - name: stubborn
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.2; done"]
`)
	waitPod(t, "delete-graceful", 60*time.Second, "Running", running)
	// Follow the polite container's log while it is deleted.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	follow := exec.CommandContext(ctx, x.bin, "--socket", x.socket, "logs", "-f", "delete-graceful", "-c", "polite")
	var got strings.Builder
	follow.Stdout = &got
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	run(t, "delete", "pod", "delete-graceful", "--grace-period", "3")
	took := time.Since(start)
	_ = follow.Wait()
	if took < 3*time.Second || took > 12*time.Second {
		t.Errorf("delete with a SIGTERM-ignoring container took %v, want about the 3 s grace period", took)
	}
	if !strings.Contains(got.String(), "got TERM") {
		t.Errorf("the polite container did not see SIGTERM; its log: %q", got.String())
	}
}
