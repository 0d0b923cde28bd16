package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/miniagent/miniagent/agent/api"
)

// daemon is one miniagent daemon this program started; it is stopped by
// its own PID only.
type daemon struct {
	name   string
	dir    string
	sock   string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	client *api.Client
}

// startDaemon starts `miniagent daemon` with containerd namespace, cgroup
// root and node name all name, its files under dir, plus extra flags, and
// waits until its local API answers. `miniagent daemon` execs
// miniagent-daemon, so the PID is the agent's own.
func startDaemon(o options, name, dir string, extra ...string) (*daemon, error) {
	for _, sub := range []string{"root", "pods"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	d := &daemon{name: name, dir: dir, sock: filepath.Join(dir, "agent.sock"), log: filepath.Join(dir, "daemon.log"), exited: make(chan struct{})}
	args := append([]string{"daemon", "--containerd-address", o.address,
		"--containerd-namespace", name, "--cgroup-root", name, "--node-name", name,
		"--root-dir", filepath.Join(dir, "root"), "--socket", d.sock, "--pod-logs-dir", filepath.Join(dir, "pods"),
		"--v", o.logLevel}, extra...)
	f, err := os.Create(d.log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d.cmd = exec.Command(filepath.Join(o.binDir, "miniagent"), args...)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	// Its own process group: a Ctrl-C reaches this program, which deletes
	// the pods before it stops the daemon.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start daemon %s: %w", name, err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	d.client = api.NewClient(d.sock)
	fmt.Printf("==> daemon %s (pid %d), files under %s\n", name, d.cmd.Process.Pid, dir)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := d.client.Node(ctx)
		cancel()
		if err == nil {
			return d, nil
		}
		select {
		case <-d.exited:
			return nil, fmt.Errorf("daemon %s exited at start-up: %v\n%s", name, d.cmd.ProcessState, tailFile(d.log, 20))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = d.stop()
			return nil, fmt.Errorf("daemon %s: API on %s not answering after 30s: %v\n%s", name, d.sock, err, tailFile(d.log, 20))
		}
	}
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) alive() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// stop ends the daemon: SIGTERM, SIGKILL after 20 s. Its pods must have
// been deleted before (a stopped daemon leaves them running).
func (d *daemon) stop() error {
	if !d.alive() {
		return nil
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("daemon %s ignored SIGTERM for 20s and was killed", d.name)
	}
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
