package containerd

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miniagent/miniagent/runtime"
)

// TestExecStreamTerminalSize checks that a terminal exec has the caller's
// first size before its command runs: `stty size` at once prints it (when
// the size was applied after the start, stty mostly ran first and printed
// "stty: standard input"), and without a size the terminal has none.
func TestExecStreamTerminalSize(t *testing.T) {
	needE2E(t)
	p := newPod(t, false)
	spec := p.spec("sleep", "100000")
	p.start(spec)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	exec := func(sizes ...runtime.TerminalSize) string {
		t.Helper()
		ch := make(chan runtime.TerminalSize, len(sizes))
		for _, s := range sizes {
			ch <- s
		}
		close(ch)
		var out bytes.Buffer
		code, err := rt.ExecStream(ctx, spec.ID, []string{"stty", "size"}, runtime.ExecStreams{Stdout: &out, TTY: true, Resize: ch})
		if err != nil || code != 0 {
			t.Fatalf("exec stty size: exit %d, %v; output %q", code, err, out.String())
		}
		return strings.TrimSpace(out.String())
	}
	for i := 0; i < 5; i++ {
		if got := exec(runtime.TerminalSize{Width: 97, Height: 31}); got != "31 97" {
			t.Fatalf("run %d: stty size printed %q, want 31 97", i, got)
		}
	}
	// A client that does not know its size (0x0) gets a terminal without one.
	if got := exec(runtime.TerminalSize{}); !strings.Contains(got, "standard input") {
		t.Fatalf("stty size without a size printed %q, want busybox's \"stty: standard input\"", got)
	}
}
