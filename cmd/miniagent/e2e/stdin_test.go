package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// stdinScript echoes each line it reads and says when its stdin ended.
const stdinScript = `while read l; do echo "got: $l"; done; echo stdin-eof; sleep 1`

func stdinPodYAML(name string, once bool) string {
	onceLine := ""
	if once {
		onceLine = "\n    stdinOnce: true"
	}
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    stdin: true` + onceLine + `
    command: [sh, -c, '` + stdinScript + `']
`
}

// attachSession is a running `miniagent attach -i` fed through a pipe.
type attachSession struct {
	cmd         *exec.Cmd
	in          io.WriteCloser
	out, stderr *syncBuffer
	done        chan error
}

func startAttach(t *testing.T, x *harness, args ...string) *attachSession {
	t.Helper()
	cmd := exec.Command(x.bin, append([]string{"attach"}, args...)...)
	cmd.Env = append(os.Environ(), "MINIAGENT_SOCKET="+x.socket)
	s := &attachSession{cmd: cmd, out: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.out, s.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.in = in
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	return s
}

// waitOutput waits until the session printed want.
func (s *attachSession) waitOutput(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("attach printed %q in %v, want %q in it; stderr %q", s.out.String(), timeout, want, s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAttachStdin: a `stdin: true` container reads what `attach -i`
// sends, across sessions and an agent restart (SIGKILL; its stdin stays
// open), and its answers are in the session's output and in the log; a
// stdinOnce container reads EOF when the first session's stdin ends; the
// delete removes the stdin FIFO. Not parallel: it restarts the daemon.
func TestAttachStdin(t *testing.T) {
	x := e2e(t)
	fifoDir := filepath.Join(x.rootDir, "stdin")

	t.Run("open", func(t *testing.T) {
		apply(t, stdinPodYAML("e2e-stdin", false))
		defer deletePodQuietly(x, "e2e-stdin")
		pod := waitPod(t, "e2e-stdin", 60*time.Second, "running", running)
		id := strings.TrimPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://")
		if fi, err := os.Stat(filepath.Join(fifoDir, id)); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Fatalf("stdin FIFO of the running container: %v %v", fi, err)
		}

		s := startAttach(t, x, "-i", "e2e-stdin")
		_, _ = io.WriteString(s.in, "one\ntwo\n")
		s.waitOutput(t, "got: two\n", 15*time.Second)
		// The client's EOF ends neither the session nor the container's stdin.
		_ = s.in.Close()
		time.Sleep(500 * time.Millisecond)
		if strings.Contains(s.out.String(), "stdin-eof") {
			t.Fatalf("the container read EOF after a session's stdin ended, without stdinOnce: %q", s.out.String())
		}
		_ = s.cmd.Process.Signal(os.Interrupt)
		if err := <-s.done; err != nil {
			t.Fatalf("attach ended with %v (Ctrl-C should end it with 0); stderr %q", err, s.stderr.String())
		}
		s.done <- nil // for the clean-up

		// The container's stdin survives the agent; a second session
		// writes to it.
		x.restartDaemon(t)
		waitPod(t, "e2e-stdin", 30*time.Second, "running after the restart", running)
		s2 := startAttach(t, x, "-i", "e2e-stdin")
		_, _ = io.WriteString(s2.in, "three\n")
		s2.waitOutput(t, "got: three\n", 15*time.Second)

		if got, want := logs(t, "e2e-stdin", "c"), "got: one\ngot: two\ngot: three\n"; got != want {
			t.Fatalf("log %q, want %q", got, want)
		}
		if p := getPod(t, "e2e-stdin"); !running(p) {
			t.Fatalf("pod is not running any more: %s", p.Status.Phase)
		}

		deletePod(t, "e2e-stdin", 0)
		if _, err := os.Stat(filepath.Join(fifoDir, id)); !os.IsNotExist(err) {
			t.Fatalf("stdin FIFO left after the delete: %v", err)
		}
	})

	t.Run("once", func(t *testing.T) {
		apply(t, stdinPodYAML("e2e-stdin-once", true))
		defer deletePodQuietly(x, "e2e-stdin-once")
		waitPod(t, "e2e-stdin-once", 60*time.Second, "running", running)
		ctx := context.Background()
		// The session's stdin ends after one line: the container reads
		// EOF, exits, and that ends the session.
		out, stderr, err := x.cliStdin(ctx, strings.NewReader("only\n"), "attach", "-i", "e2e-stdin-once")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "got: only\nstdin-eof\n") {
			t.Fatalf("attach -i printed %q (stderr %q), want the line and stdin-eof", out, stderr)
		}
		p := waitPod(t, "e2e-stdin-once", 30*time.Second, "Succeeded", phaseIs(v1.PodSucceeded))
		if cs := containerStatus(p, "c"); cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			t.Fatalf("container status %+v, want exited 0", cs)
		}
		if got, want := logs(t, "e2e-stdin-once", "c"), "got: only\nstdin-eof\n"; got != want {
			t.Fatalf("log %q, want %q", got, want)
		}
		deletePod(t, "e2e-stdin-once", 0)
	})

}

// ttyStdinPod runs an interactive shell on a terminal.
const ttyStdinPod = `apiVersion: v1
kind: Pod
metadata:
  name: e2e-attach-tty
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    stdin: true
    tty: true
    command: [sh]
`

// TestAttachTTY: `miniagent attach -it` on a real pseudo-terminal to a
// `tty: true` container reaches its shell (prompt, commands), passes the
// terminal's size and a resize, and the container's log holds the
// terminal's output as stdout; the shell's exit ends the session.
func TestAttachTTY(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	apply(t, ttyStdinPod)
	defer deletePodQuietly(x, "e2e-attach-tty")
	waitPod(t, "e2e-attach-tty", 60*time.Second, "running", running)
	s := startPTY(t, 31, 97, []string{"MINIAGENT_SOCKET=" + x.socket}, x.bin, "attach", "-it", "e2e-attach-tty")
	attachedShell(t, s)
	s.send("echo marker-$((6*7))\r")
	s.expect(`\nmarker-42\r?\n`)
	// Round trip of a command and its answer through the log, for the README.
	var rtt []time.Duration
	for i := 0; i < 9; i++ {
		start := time.Now()
		s.send(fmt.Sprintf("echo rt-%d-$((%d+1))\r", i, i))
		s.expect(fmt.Sprintf(`\nrt-%d-%d\r?\n`, i, i+1))
		rtt = append(rtt, time.Since(start))
	}
	slices.Sort(rtt)
	t.Logf("attach -it round trip (command typed to its answer shown), 9 runs: min %v, median %v, max %v", rtt[0], rtt[4], rtt[8])
	s.send("exit 3\r")
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("attach did not end 20 s after the shell exited; terminal: %q", s.output())
	}
	p := waitPod(t, "e2e-attach-tty", 30*time.Second, "Failed", phaseIs(v1.PodFailed))
	if cs := containerStatus(p, "c"); cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 3 {
		t.Fatalf("container status %+v, want exited 3", cs)
	}
	log := logs(t, "e2e-attach-tty", "c")
	if !strings.Contains(log, "marker-42") || !strings.Contains(log, "/ # ") {
		t.Fatalf("the log of the tty container lacks the shell's output: %q", log)
	}
	// One stream: the CRI log has it all as stdout.
	files, _ := filepath.Glob(filepath.Join(x.logsDir, "default_e2e-attach-tty_*", "c", "0.log"))
	if len(files) != 1 {
		t.Fatalf("CRI log files %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if f := strings.SplitN(line, " ", 4); len(f) < 3 || f[1] != "stdout" {
			t.Fatalf("CRI log record %q is not stdout", line)
		}
	}
	deletePod(t, "e2e-attach-tty", 0)
}

// attachedShell checks an `attach -it` session to a busybox shell started
// at 31x97: kubectl's hint, the prompt after an Enter, the size, and a
// resize to 42x120 reaching the shell.
func attachedShell(t *testing.T, s *ptySession) {
	t.Helper()
	s.expect(`If you don't see a command prompt, try pressing enter.`)
	s.send("\r")
	s.expect(`/ # `)
	waitTTYSize(t, s, "31 97")
	s.resize(42, 120)
	waitTTYSize(t, s, "42 120")
}

// waitTTYSize waits until `stty size` in the session's shell prints want:
// the size travels client -> agent -> shim asynchronously.
func waitTTYSize(t *testing.T, s *ptySession, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.send("stty size; echo rc=$?\r")
		got := s.sttySize()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stty size printed %q, want %s; terminal: %q", got, want, s.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
