package cli

import (
	"testing"
	"time"

	"github.com/creack/pty"
	"k8s.io/client-go/tools/remotecommand"
)

// TestTerminalSizes: the first size is queued at once, also when the
// terminal has none (0x0), and a resize queues the new one.
func TestTerminalSizes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rows, cols uint16
	}{{"sized", 31, 97}, {"no size", 0, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			defer tty.Close()
			if err := pty.Setsize(ptmx, &pty.Winsize{Rows: tc.rows, Cols: tc.cols}); err != nil {
				t.Fatal(err)
			}
			tm, ok, err := openTerminal(tty, tty)
			if err != nil || !ok {
				t.Fatalf("openTerminal: %v %v", ok, err)
			}
			defer tm.Close()
			next := func() *remotecommand.TerminalSize {
				t.Helper()
				got := make(chan *remotecommand.TerminalSize, 1)
				go func() { got <- tm.Next() }()
				select {
				case sz := <-got:
					return sz
				case <-time.After(5 * time.Second):
					t.Fatal("no size queued")
					return nil
				}
			}
			if sz := next(); sz == nil || sz.Width != tc.cols || sz.Height != tc.rows {
				t.Fatalf("first size %+v, want %dx%d", sz, tc.cols, tc.rows)
			}
			if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 42, Cols: 120}); err != nil {
				t.Fatal(err)
			}
			tm.push() // what SIGWINCH does (the test's process has no controlling terminal)
			if sz := next(); sz == nil || sz.Width != 120 || sz.Height != 42 {
				t.Fatalf("after the resize %+v, want 120x42", sz)
			}
		})
	}
}
