package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/cgroups"
)

// privateContainerd is a containerd of the test's own, so it can be killed.
type privateContainerd struct {
	dir, config, addr string
	// shimDir, when set, comes first in containerd's PATH: a shim
	// there stands in for the installed one.
	shimDir string
	cmd     *exec.Cmd
	exited  chan struct{}
}

func startPrivateContainerd(t *testing.T, p *privateContainerd) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
}

// start starts containerd and waits up to 30 s until it answers; it may be
// called from any goroutine.
func (p *privateContainerd) start() error {
	logf, err := os.OpenFile(filepath.Join(p.dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	p.cmd = exec.Command("containerd", "--config", p.config)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if p.shimDir != "" {
		p.cmd.Env = append(os.Environ(), "PATH="+p.shimDir+":"+os.Getenv("PATH"))
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(p.cmd, p.exited)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, err := exec.Command("ctr", "--address", p.addr, "version").CombinedOutput(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("private containerd did not answer: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *privateContainerd) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// TestContainerdRestart: the agent survives containerd going away, shows
// its pods as Unknown meanwhile, and picks them up unchanged when
// containerd is back (the containers keep running under their shims).
func TestContainerdRestart(t *testing.T) {
	x := e2e(t)
	// Short paths: unix socket paths are limited to 108 bytes.
	base := fmt.Sprintf("/run/miniagent-e2e-ctd-%d", os.Getpid())
	p := &privateContainerd{dir: base, config: filepath.Join(base, "config.toml"), addr: filepath.Join(base, "c.sock")}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(x.dir, "ctd-root")
	cfg := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
		root, filepath.Join(base, "state"), p.addr, p.addr+".ttrpc")
	if err := os.WriteFile(p.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startPrivateContainerd(t, p)
	// Namespace and cgroup root of this run's, so parallel runs do not meet.
	ns, ctdRoot := testNamespace+"-ctd", cgroupRoot+"-ctd"
	agentDir := filepath.Join(x.dir, "ctd-agent")
	socket := filepath.Join(base, "agent.sock")
	watchOwnDaemon(t, socket)
	cli := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, x.bin, append([]string{"--socket", socket}, args...)...).CombinedOutput()
		return string(out), err
	}
	var daemon *exec.Cmd
	daemonExited := make(chan struct{})
	t.Cleanup(func() {
		if daemon != nil {
			_, _ = cli("delete", "pod", "ctd", "--grace-period", "0")
			_ = daemon.Process.Signal(syscall.SIGTERM)
			<-daemonExited
		}
		p.kill()
		_ = cgroups.RemovePath("/" + ctdRoot)
		_ = exec.Command("sh", "-c", "grep -o ' "+root+"[^ ]*' /proc/self/mountinfo | xargs -r -n1 umount -l").Run()
		_ = os.RemoveAll(root)
		_ = os.RemoveAll(base)
		_ = os.RemoveAll(agentDir)
	})
	if out, err := exec.Command(x.bin, "image", "import", filepath.Join(x.dir, "busybox.tar"),
		"--containerd-address", p.addr, "--containerd-namespace", ns).CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(x.dir, "ctd-daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	daemon = exec.Command(x.bin, "daemon", "--containerd-address", p.addr, "--containerd-namespace", ns,
		"--containerd-state-dir", filepath.Join(base, "state"),
		"--root-dir", filepath.Join(agentDir, "root"), "--socket", socket, "--pod-logs-dir", filepath.Join(agentDir, "logs"),
		"--cgroup-root", ctdRoot, "--node-name", nodeName)
	daemon.Stdout, daemon.Stderr = logf, logf
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = daemon.Wait(); close(daemonExited) }()
	get := func() (*v1.Pod, error) {
		out, err := cli("get", "pods", "ctd", "-o", "json")
		if err != nil {
			return nil, fmt.Errorf("%v: %s", err, out)
		}
		var pod v1.Pod
		return &pod, json.Unmarshal([]byte(out), &pod)
	}
	wait := func(what string, cond func(*v1.Pod) bool) *v1.Pod {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			pod, err := get()
			if err == nil && cond(pod) {
				return pod
			}
			if time.Now().After(deadline) {
				b, _ := json.MarshalIndent(pod, "", "  ")
				t.Fatalf("timed out waiting for %s (err %v)\n%s", what, err, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	manifest := filepath.Join(agentDir, "pod.yaml")
	_ = os.MkdirAll(agentDir, 0o755)
	if err := os.WriteFile(manifest, []byte(podYAML("ctd", "Always", "sleep 3600")), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := cli("apply", "-f", manifest)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apply: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	before := wait("Running", running)
	id := before.Status.ContainerStatuses[0].ContainerID

	p.kill()
	wait("phase Unknown while containerd is down", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodUnknown })
	select {
	case <-daemonExited:
		t.Fatal("the agent exited when containerd went away")
	default:
	}
	startPrivateContainerd(t, p)
	after := wait("Running again", running)
	cs := after.Status.ContainerStatuses[0]
	if cs.ContainerID != id || cs.RestartCount != 0 {
		t.Fatalf("after containerd came back: container %s restartCount %d, want %s and 0", cs.ContainerID, cs.RestartCount, id)
	}
	// The agent still drives the pod: a delete removes it.
	if out, err := cli("delete", "pod", "ctd", "--grace-period", "0"); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if out, _ := exec.Command("ctr", "--address", p.addr, "-n", ns, "c", "ls", "-q").Output(); strings.TrimSpace(string(out)) != "" {
		t.Fatalf("containers left after delete: %s", out)
	}
}
