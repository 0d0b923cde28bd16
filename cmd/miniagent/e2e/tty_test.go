package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ttyPod only sleeps: a target for terminal execs.
const ttyPod = `apiVersion: v1
kind: Pod
metadata:
  name: tty
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
`

// TestExecTTYSize runs `miniagent exec -it` on a real pseudo-terminal of
// a known size and checks that the container's terminal has that size
// from the first instruction on (a command run at once, not only a shell
// typed at later), that a resize reaches the process as SIGWINCH and a
// new size, that the command's exit status comes back, and that the
// session never shows a NUL byte.
func TestExecTTYSize(t *testing.T) {
	x := e2e(t)
	apply(t, ttyPod)
	waitPod(t, "tty", 60*time.Second, "running", running)
	env := []string{"MINIAGENT_SOCKET=" + x.socket}
	testTTYSession(t, env, x.bin, "exec", "-it", "tty", "--")
}

// testTTYSession drives a terminal exec (prefix is the client's command
// line up to and including `--`) through three sessions: `stty size` run
// directly, an interactive shell that is resized, and a script trapping
// SIGWINCH that is then ended with Ctrl-C.
func testTTYSession(t *testing.T, env []string, prefix ...string) {
	argv := func(cmd ...string) []string { return append(append([]string(nil), prefix...), cmd...) }

	t.Run("stty at start", func(t *testing.T) {
		s := startPTY(t, 31, 97, env, argv("sh", "-c", "stty size; echo rc=$?")...)
		if got := s.sttySize(); got != "31 97" {
			t.Fatalf("stty size run at once printed %q, want 31 97; terminal: %q", got, s.output())
		}
		s.wantExit(0)
	})

	t.Run("interactive resize", func(t *testing.T) {
		s := startPTY(t, 31, 97, env, argv("sh")...)
		s.send("stty size; echo rc=$?\r")
		if got := s.sttySize(); got != "31 97" {
			t.Fatalf("stty size in the shell printed %q, want 31 97; terminal: %q", got, s.output())
		}
		s.resize(42, 120)
		// The new size travels CLI → agent → shim asynchronously.
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.send("stty size; echo rc=$?\r")
			got := s.sttySize()
			if got == "42 120" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("stty size printed %q 10 s after the resize to 42x120; terminal: %q", got, s.output())
			}
			time.Sleep(200 * time.Millisecond)
		}
		s.send("exit 5\r")
		s.wantExit(5)
	})

	t.Run("SIGWINCH and Ctrl-C", func(t *testing.T) {
		script := `trap 'echo winch=$(stty size)' WINCH; echo ready=$(stty size); while :; do sleep 0.1; done`
		s := startPTY(t, 24, 80, env, argv("sh", "-c", script)...)
		if m := s.expect(`ready=(\d+ \d+)`); m[1] != "24 80" {
			t.Fatalf("ready=%s, want 24 80", m[1])
		}
		s.resize(50, 132)
		if m := s.expect(`winch=(\d+ \d+)`); m[1] != "50 132" {
			t.Fatalf("the trap saw %s after the resize to 50x132", m[1])
		}
		s.send("\x03") // raw mode locally: the container's terminal makes it SIGINT
		s.wantExit(130)
	})
}

// ptySession is a command running on a pseudo-terminal, as in a user's
// terminal emulator: its own session with the terminal as controlling tty.
type ptySession struct {
	t    *testing.T
	ptmx *os.File
	cmd  *exec.Cmd

	mu     sync.Mutex
	out    []byte // everything the terminal showed
	seen   int    // out[:seen] was consumed by expect
	grew   chan struct{}
	closed bool
}

func startPTY(t *testing.T, rows, cols uint16, env []string, argv ...string) *ptySession {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	s := &ptySession{t: t, ptmx: ptmx, cmd: cmd, grew: make(chan struct{}, 1)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			s.mu.Lock()
			s.out = append(s.out, buf[:n]...)
			s.closed = err != nil
			s.mu.Unlock()
			select {
			case s.grew <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		ptmx.Close()
		<-readDone
		if i := bytes.IndexByte(s.output(), 0); i >= 0 {
			t.Errorf("the terminal showed a NUL byte at offset %d: %q", i, s.output())
		}
	})
	return s
}

func (s *ptySession) output() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.out...)
}

func (s *ptySession) send(text string) {
	s.t.Helper()
	if _, err := s.ptmx.WriteString(text); err != nil {
		s.t.Fatalf("type %q: %v", text, err)
	}
}

// resize sets the terminal's size; the kernel sends the client SIGWINCH.
func (s *ptySession) resize(rows, cols uint16) {
	s.t.Helper()
	if err := pty.Setsize(s.ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		s.t.Fatal(err)
	}
}

// expect waits for the pattern in the output not yet consumed and returns
// its submatches; the output up to the match's end is consumed.
func (s *ptySession) expect(pattern string) []string {
	s.t.Helper()
	re := regexp.MustCompile(pattern)
	timeout := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		rest, closed := s.out[s.seen:], s.closed
		loc := re.FindSubmatchIndex(rest)
		var m []string
		if loc != nil {
			for i := 0; i < len(loc); i += 2 {
				if loc[i] >= 0 {
					m = append(m, string(rest[loc[i]:loc[i+1]]))
				} else {
					m = append(m, "")
				}
			}
			s.seen += loc[1]
		}
		s.mu.Unlock()
		if m != nil {
			return m
		}
		if closed {
			s.t.Fatalf("the terminal closed before %q; it showed %q", pattern, s.output())
		}
		select {
		case <-s.grew:
		case <-timeout:
			s.t.Fatalf("no %q on the terminal in 20 s; it showed %q", pattern, s.output())
		}
	}
}

// sttySize reads the answer of `stty size; echo rc=$?`: the size, or
// what stty said instead (or the rc when it was not 0).
func (s *ptySession) sttySize() string {
	s.t.Helper()
	m := s.expect(`(?s)(.*?)\r?\nrc=(\d+)\r?\n`)
	if m[2] != "0" {
		return fmt.Sprintf("%q, rc=%s", m[1], m[2])
	}
	if sz := regexp.MustCompile(`(?:^|\n)(\d+ \d+)$`).FindStringSubmatch(m[1]); sz != nil {
		return sz[1]
	}
	return fmt.Sprintf("%q", m[1])
}

// wantExit waits for the client and checks its exit code; a non-zero one
// must also be reported as kubectl reports it.
func (s *ptySession) wantExit(code int) {
	s.t.Helper()
	err := s.cmd.Wait()
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		s.t.Fatalf("client: %v", err)
	}
	if got != code {
		s.t.Fatalf("client exited with %d, want %d; terminal: %q", got, code, s.output())
	}
	if code != 0 {
		s.expect(regexp.QuoteMeta("command terminated with exit code " + strconv.Itoa(code)))
	}
}
