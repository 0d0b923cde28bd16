package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miniagent/miniagent/cgroups"
)

// env is one test run's settings (see the package doc).
type env struct {
	repo, binDir string
	prefix       string
	basePort     int
}

func loadEnv(t *testing.T) env {
	t.Helper()
	if os.Getenv("MINIAGENT_E2E") != "1" {
		t.Skip("end-to-end test: set MINIAGENT_E2E=1 (needs root, containerd and scripts/build-control-plane.sh)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end tests need root")
	}
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	e := env{repo: repo, binDir: os.Getenv("MINIAGENT_K8S_BIN"), prefix: os.Getenv("MINIAGENT_E2E_CLUSTER_PREFIX"), basePort: 19400}
	if e.binDir == "" {
		e.binDir = filepath.Join(repo, "bin", "k8s")
	}
	if e.prefix == "" {
		e.prefix = "miniagent-cluster"
	}
	if p := os.Getenv("MINIAGENT_E2E_CLUSTER_PORT"); p != "" {
		if e.basePort, err = strconv.Atoi(p); err != nil || e.basePort < 1024 || e.basePort > 65515 {
			t.Fatalf("MINIAGENT_E2E_CLUSTER_PORT=%q: want a port between 1024 and 65515", p)
		}
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(e.binDir, b)); err != nil {
			if os.Getenv("MINIAGENT_E2E_CLUSTER") == "1" { // CI: the build ran, the binaries must be there
				t.Fatalf("cluster end-to-end test: %s not built", filepath.Join(e.binDir, b))
			}
			t.Skipf("cluster end-to-end test: %s not built (run scripts/build-control-plane.sh, or set MINIAGENT_K8S_BIN)", filepath.Join(e.binDir, b))
		}
	}
	return e
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// buildAgent builds miniagent, miniagent-daemon and miniagent-crilog into dir.
func buildAgent(t *testing.T, repo, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "miniagent")
	for _, c := range [][]string{
		{"-o", bin, "./cmd/miniagent"},
		{"-o", filepath.Join(dir, "miniagent-cli"), "./cmd/miniagent-cli"},
		{"-o", filepath.Join(dir, "miniagent-daemon"), "./cmd/miniagent-daemon"},
		{"-o", filepath.Join(dir, "miniagent-crilog"), "./cmd/miniagent-crilog"},
	} {
		cmd := exec.Command("go", append([]string{"build"}, c...)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	return bin
}

// agent is one miniagent daemon in cluster mode: its own root dir, socket,
// containerd namespace, cgroup root (all named after the node) and port.
type agent struct {
	t      *testing.T
	name   string
	bin    string
	dir    string
	args   []string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

func newAgent(t *testing.T, bin, name, kubeconfig string, port int, extra ...string) *agent {
	t.Helper()
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, name: name, bin: bin, dir: dir, log: filepath.Join(dir, "daemon.log")}
	a.args = append([]string{"daemon",
		"--containerd-namespace", name, "--cgroup-root", name, "--node-name", name,
		"--root-dir", filepath.Join(dir, "root"), "--socket", filepath.Join(dir, "agent.sock"),
		"--pod-logs-dir", filepath.Join(dir, "pods"),
		"--kubeconfig", kubeconfig, "--node-ip", "127.0.0.1", "--port", strconv.Itoa(port),
	}, extra...)
	if addr := os.Getenv("MINIAGENT_CONTAINERD_ADDRESS"); addr != "" {
		a.args = append(a.args, "--containerd-address", addr)
	}
	t.Cleanup(a.cleanup)
	a.start()
	return a
}

func (a *agent) start() {
	a.t.Helper()
	f, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		a.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "\n===== starting agent at %s =====\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(a.bin, a.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		a.t.Fatalf("start agent %s: %v", a.name, err)
	}
	a.cmd, a.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(a.exited)
}

// stop ends the daemon with SIGTERM (its pods keep running), SIGKILL after 20 s.
func (a *agent) stop() {
	if a.cmd == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
		a.t.Errorf("agent %s ignored SIGTERM for 20s", a.name)
	}
	a.cmd = nil
}

func (a *agent) alive() bool {
	if a.cmd == nil {
		return false
	}
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

func (a *agent) logTail(n int) string { return tail(a.log, n) }

func (a *agent) cleanup() {
	a.stop()
	if a.t.Failed() {
		a.t.Logf("agent %s log:\n%s", a.name, a.logTail(40))
	}
	if err := cgroups.RemovePath("/" + a.name); err != nil {
		a.t.Logf("clean-up: cgroup root %s: %v", a.name, err)
	}
	_ = os.RemoveAll(a.dir)
}
