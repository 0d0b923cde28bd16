package containerd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The exec server run as a plain child process over pipes, outside any
// container: its protocol, output capping, timeouts and exec failures.

// localHelperDir holds the helper built for these tests; TestMain removes it.
var localHelperDir string

var localHelper = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "miniagent-exec-unit-")
	if err != nil {
		return "", err
	}
	localHelperDir = dir
	return buildExecHelper(dir)
})

type localServer struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	done chan error
}

// startLocalServer runs the helper with env (nil: a small fixed one).
func startLocalServer(t *testing.T, env []string) *localServer {
	t.Helper()
	helper, err := localHelper()
	if err != nil {
		t.Fatal(err)
	}
	if env == nil {
		env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "MINIAGENT_TEST=1"}
	}
	cmd := exec.Command(helper)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &localServer{t: t, cmd: cmd, in: in, out: bufio.NewReader(outPipe), done: make(chan error, 1)}
	t.Cleanup(func() {
		_ = in.Close()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	go func() { s.done <- cmd.Wait() }()
	if err := readExecHello(s.out); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *localServer) run(argv []string, timeout time.Duration, max int) execAnswer {
	s.t.Helper()
	req, err := encodeExecRequest(argv, timeout, max)
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.in.Write(req); err != nil {
		s.t.Fatal(err)
	}
	a, err := readExecAnswer(s.out, max)
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

// exitStatus waits for the server's end and returns its exit status.
func (s *localServer) exitStatus() int {
	s.t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			s.t.Fatal(err)
		}
		return 0
	case <-time.After(5 * time.Second):
		s.t.Fatal("exec server did not end")
		return -1
	}
}

func TestExecServerAnswers(t *testing.T) {
	dir := t.TempDir()
	notExecutable := dir + "/plain-file"
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\necho no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startLocalServer(t, []string{"PATH=" + dir + ":/usr/local/bin:/usr/bin:/bin", "MINIAGENT_TEST=1"})
	for _, tc := range []struct {
		name  string
		argv  []string
		max   int
		kind  byte
		value int32
		out   string
	}{
		{name: "output", argv: []string{"echo", "hello"}, max: 100, out: "hello\n"},
		{name: "stderr merged", argv: []string{"sh", "-c", "echo a; echo b >&2; echo c"}, max: 100, out: "a\nb\nc\n"},
		{name: "exit code", argv: []string{"sh", "-c", "exit 3"}, max: 100, value: 3},
		{name: "signal", argv: []string{"sh", "-c", "kill -TERM $$"}, max: 100, kind: execSignaled, value: int32(syscall.SIGTERM)},
		{name: "capped", argv: []string{"head", "-c", "200000", "/dev/zero"}, max: 10, out: strings.Repeat("\x00", 10)},
		{name: "no output kept", argv: []string{"echo", "hello"}, max: 0},
		{name: "stdin is /dev/null", argv: []string{"sh", "-c", "cat; readlink /proc/self/fd/0"}, max: 100, out: "/dev/null\n"},
		{name: "only stdio is open", argv: []string{"ls", "/proc/self/fd"}, max: 100, out: "0\n1\n2\n3\n"}, // 3: the directory ls reads
		{name: "environment is the server's", argv: []string{"env"}, max: 1000, out: "PATH=" + dir + ":/usr/local/bin:/usr/bin:/bin\nMINIAGENT_TEST=1\n"},
		{name: "not in PATH", argv: []string{"no-such-command-here"}, max: 100, kind: execNotRun, value: int32(syscall.ENOENT)},
		{name: "no such file", argv: []string{"/no/such/file"}, max: 100, kind: execNotRun, value: int32(syscall.ENOENT)},
		{name: "a directory", argv: []string{"/"}, max: 100, kind: execNotRun, value: int32(syscall.EACCES)},
		{name: "not executable", argv: []string{notExecutable}, max: 100, kind: execNotRun, value: int32(syscall.EACCES)},
		{name: "not executable in PATH is skipped", argv: []string{"plain-file"}, max: 100, kind: execNotRun, value: int32(syscall.ENOENT)},
		{name: "background child does not hold the answer", argv: []string{"sh", "-c", "sleep 3 & echo started"}, max: 100, out: "started\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			a := s.run(tc.argv, 10*time.Second, tc.max)
			if a.kind != tc.kind || a.value != tc.value || string(a.output) != tc.out {
				t.Fatalf("answer %d %d %q, want %d %d %q", a.kind, a.value, a.output, tc.kind, tc.value, tc.out)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("answer took %v", d)
			}
		})
	}
}

func TestExecServerTimeoutKillsOnlyTheCommand(t *testing.T) {
	s := startLocalServer(t, nil)
	start := time.Now()
	a := s.run([]string{"sh", "-c", "echo $$; exec sleep 30"}, 300*time.Millisecond, 100)
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Fatalf("timed-out command answered after %v", d)
	}
	if a.kind != execTimedOut || a.value != int32(syscall.SIGKILL) {
		t.Fatalf("answer %+v, want timed out", a)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(a.output)))
	if err != nil {
		t.Fatalf("output %q: %v", a.output, err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("timed-out command %d still there: %v", pid, err)
	}
	// The server goes on.
	if a := s.run([]string{"true"}, time.Second, 10); a.kind != execExited || a.value != 0 {
		t.Fatalf("after a timeout: %+v", a)
	}
}

func TestExecServerCommandDiesWithServer(t *testing.T) {
	s := startLocalServer(t, nil)
	req, _ := encodeExecRequest([]string{"sh", "-c", "echo $$; exec sleep 30"}, 0, 100)
	if _, err := s.in.Write(req); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	pidOf := func() int {
		// The command's pid is its only child's.
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", s.cmd.Process.Pid, s.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		return pid
	}
	pid := pidOf()
	if pid == 0 {
		t.Fatal("no command running")
	}
	_ = s.cmd.Process.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("command %d outlived its server", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecServerEnds(t *testing.T) {
	t.Run("end of input", func(t *testing.T) {
		s := startLocalServer(t, nil)
		_ = s.in.Close()
		if code := s.exitStatus(); code != 0 {
			t.Fatalf("exit %d, want 0", code)
		}
	})
	for name, req := range map[string][]byte{
		"length below the header": {0, 0, 0, 3, 1, 2, 3},
		"length past the limit":   {0x7f, 0, 0, 0},
		"no arguments":            {0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"unterminated argument":   append([]byte{0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 'a', 'b'),
		"trailing bytes":          append([]byte{0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 'a', 0, 'b'),
		"empty argv0":             append([]byte{0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 0),
		"output cap too big":      append([]byte{0, 0, 0, 14, 0, 0, 0, 0, 0x7f, 0, 0, 0, 0, 0, 0, 1}, 'a', 0),
		"truncated request":       {0, 0, 0, 20, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			s := startLocalServer(t, nil)
			if _, err := s.in.Write(req); err != nil {
				t.Fatal(err)
			}
			_ = s.in.Close()
			if code := s.exitStatus(); code != 2 {
				t.Fatalf("exit %d, want 2 (malformed request)", code)
			}
		})
	}
}
