package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// streamPod runs a busybox httpd on 8080 serving /www, and prints a line a
// second on stdout: a target for exec, attach, port-forward and cp.
const streamPod = `apiVersion: v1
kind: Pod
metadata:
  name: stream
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www; echo hello-from-the-pod > /www/index.html; (while true; do echo tick; sleep 1; done) & exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
`

// TestStream drives exec (stdin, TTY with resize, exit code, errors),
// port-forward, cp and attach through the CLI, and checks after each that
// no exec process is left in the container.
func TestStream(t *testing.T) {
	x := e2e(t)
	apply(t, streamPod)
	pod := waitPod(t, "stream", 60*time.Second, "running", running)
	id := strings.TrimPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://")
	// The tick loop's sleep comes and goes: the most seen at rest is the base.
	base := 0
	for i := 0; i < 6; i++ {
		base = max(base, taskPids(t, x, id))
		time.Sleep(100 * time.Millisecond)
	}
	noLeak := func(t *testing.T) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := taskPids(t, x, id)
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("container has %d processes after the session, %d before: an exec process was left", n, base)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ctx := context.Background()

	t.Run("stdin", func(t *testing.T) {
		data := "line one\nline two\n"
		out, _, err := x.cliStdin(ctx, strings.NewReader(data), "exec", "-i", "stream", "--", "cat")
		if err != nil {
			t.Fatal(err)
		}
		if out != data {
			t.Fatalf("exec -i -- cat printed %q, want %q", out, data)
		}
		noLeak(t)
	})

	t.Run("exit code", func(t *testing.T) {
		out, stderr, err := x.cli(ctx, "exec", "stream", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("exec of exit 3: %v, want exit code 3", err)
		}
		if out != "out\n" || !strings.Contains(stderr, "err\n") || !strings.Contains(stderr, "command terminated with exit code 3") {
			t.Fatalf("stdout %q, stderr %q", out, stderr)
		}
		noLeak(t)
	})

	t.Run("missing container", func(t *testing.T) {
		_, stderr, err := x.cli(ctx, "exec", "stream", "-c", "nope", "--", "true")
		if err == nil || !strings.Contains(stderr, "container nope is not valid for pod stream") {
			t.Fatalf("exec -c nope: %v, stderr %q", err, stderr)
		}
		_, stderr, err = x.cli(ctx, "exec", "no-such-pod", "--", "true")
		if err == nil || !strings.Contains(stderr, `pods "no-such-pod" not found`) {
			t.Fatalf("exec into a missing pod: %v, stderr %q", err, stderr)
		}
	})

	t.Run("tty", func(t *testing.T) {
		testExecTTY(t, x)
		noLeak(t)
	})

	t.Run("port-forward", func(t *testing.T) {
		testPortForward(t, x)
		noLeak(t)
	})

	t.Run("cp", func(t *testing.T) {
		dir := t.TempDir()
		blob := make([]byte, 300_000)
		_, _ = rand.Read(blob)
		src := filepath.Join(dir, "blob")
		if err := os.WriteFile(src, blob, 0o640); err != nil {
			t.Fatal(err)
		}
		run(t, "cp", src, "stream:/tmp/blob")
		back := filepath.Join(dir, "back")
		run(t, "cp", "stream:/tmp/blob", back)
		got, err := os.ReadFile(back)
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("copied back %d bytes (%v), want the same %d bytes", len(got), err, len(blob))
		}
		// A directory tree both ways.
		tree := filepath.Join(dir, "tree")
		if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(tree, "a"), []byte("a\n"), 0o644)
		_ = os.WriteFile(filepath.Join(tree, "sub", "b"), []byte("b\n"), 0o644)
		run(t, "cp", tree, "stream:/tmp/tree")
		if out := run(t, "exec", "stream", "--", "cat", "/tmp/tree/sub/b"); out != "b\n" {
			t.Fatalf("/tmp/tree/sub/b in the pod is %q", out)
		}
		run(t, "cp", "stream:/tmp/tree", filepath.Join(dir, "tree.back"))
		if b, err := os.ReadFile(filepath.Join(dir, "tree.back", "sub", "b")); err != nil || string(b) != "b\n" {
			t.Fatalf("tree.back/sub/b: %q %v", b, err)
		}
		if _, stderr, err := x.cli(ctx, "cp", "stream:/no/such/file", filepath.Join(dir, "x")); err == nil {
			t.Fatalf("cp of a missing file succeeded; stderr %q", stderr)
		}
		noLeak(t)
	})

	t.Run("attach", func(t *testing.T) {
		cmd := exec.Command(x.bin, "attach", "stream")
		cmd.Env = append(os.Environ(), "MINIAGENT_SOCKET="+x.socket)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3500 * time.Millisecond)
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("attach ended with %v (Ctrl-C should end it with 0); stderr %q", err, stderr.String())
		}
		if n := strings.Count(out.String(), "tick\n"); n < 2 {
			t.Fatalf("attach showed %q in 3.5 s, want at least two tick lines", out.String())
		}
	})
}

// testExecTTY runs a shell on a pseudo-terminal, checks the terminal size
// the container sees and that a resize (SIGWINCH to the CLI) reaches it.
func testExecTTY(t *testing.T, x *harness) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 31, Cols: 97}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, x.bin, "exec", "-it", "stream", "--", "sh")
	cmd.Env = append(os.Environ(), "MINIAGENT_SOCKET="+x.socket)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(ptmx)
		for sc.Scan() {
			lines <- strings.TrimRight(sc.Text(), "\r")
		}
		close(lines)
	}()
	expect := func(want string) {
		t.Helper()
		timeout := time.After(15 * time.Second)
		var seen []string
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("terminal closed before %q; saw %q", want, seen)
				}
				if strings.Contains(l, want) && !strings.Contains(l, "echo") {
					return
				}
				seen = append(seen, l)
			case <-timeout:
				t.Fatalf("no %q on the terminal; saw %q", want, seen)
			}
		}
	}
	fmt.Fprintf(ptmx, "echo size=$(stty size) tty=$(tty | cut -c1-8) TERM=$TERM\r")
	expect("size=31 97 tty=/dev/pts TERM=xterm")
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 42, Cols: 120}); err != nil { // SIGWINCH to the CLI
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fmt.Fprintf(ptmx, "echo resized=$(stty size)\r")
		select {
		case l := <-lines:
			if strings.Contains(l, "resized=42 120") && !strings.Contains(l, "echo") {
				goto resized
			}
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the container's terminal never became 42x120 after the resize")
		}
	}
resized:
	fmt.Fprintf(ptmx, "exit 7\r")
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("exec -it of a shell that ran exit 7: %v", err)
	}
}

// testPortForward forwards a free local port to the pod's httpd, fetches
// the page twice, and also checks a named port.
func testPortForward(t *testing.T, x *harness) {
	for _, remote := range []string{"8080", "http"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, x.bin, "port-forward", "stream", fmt.Sprintf("%d:%s", port, remote))
		cmd.Env = append(os.Environ(), "MINIAGENT_SOCKET="+x.socket)
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		first, err := bufio.NewReader(stdout).ReadString('\n')
		want := fmt.Sprintf("Forwarding from 127.0.0.1:%d -> 8080", port)
		if err != nil || strings.TrimSpace(first) != want {
			cancel()
			t.Fatalf("port-forward printed %q (%v), want %q; stderr %q", first, err, want, stderr.String())
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		for i := 0; i < 2; i++ {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
			if err != nil {
				cancel()
				t.Fatalf("GET through port-forward: %v; stderr %q", err, stderr.String())
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "hello-from-the-pod\n" {
				cancel()
				t.Fatalf("GET through port-forward returned %q", body)
			}
		}
		cancel()
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			t.Fatalf("port-forward ended with %v; stderr %q", err, stderr.String())
		}
	}
}

// taskPids counts the processes in the container's task.
func taskPids(t *testing.T, x *harness, id string) int {
	t.Helper()
	c, ctx, done, err := x.ctrClient()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	ctr, err := c.LoadContainer(ctx, id)
	if err != nil {
		// Say what the agent shows: a restart here would be the bug.
		b, _ := json.MarshalIndent(getPod(t, "stream").Status, "", "  ")
		t.Fatalf("%v; the pod's status now:\n%s", err, b)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := task.Pids(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return len(pids)
}
