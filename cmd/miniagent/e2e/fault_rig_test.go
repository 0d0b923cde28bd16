package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/cgroups"
)

// A rig is one fault-injection environment: a daemon of its own (own
// socket, root dir, pod logs dir, containerd namespace and cgroup root), so
// fault tests neither disturb nor wait for the shared harness or another
// run. Optionally it has a private containerd it can kill.

// faultBins are the binaries and the image archive the rigs use: the shared
// harness's when it was set up, else built once for the fault tests.
var faultBins struct {
	once     sync.Once
	dir      string // "" when the shared harness's are used
	bin, tar string
	err      error
}

// faultSeq numbers the rigs of this process.
var faultSeq atomic.Int32

func faultBinaries(t *testing.T) (bin, tar string) {
	t.Helper()
	faultBins.once.Do(func() {
		if h != nil && setupErr == nil {
			faultBins.bin, faultBins.tar = h.bin, filepath.Join(h.dir, "busybox.tar")
			return
		}
		faultBins.err = buildFaultBinaries()
	})
	if faultBins.err != nil {
		t.Fatalf("fault tests: build: %v", faultBins.err)
	}
	return faultBins.bin, faultBins.tar
}

// buildFaultBinaries builds miniagent, miniagent-daemon and miniagent-crilog
// next to it (as the harness does) and the busybox image archive into a temporary directory.
func buildFaultBinaries() error {
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "miniagent-fault-bin-")
	if err != nil {
		return err
	}
	faultBins.dir = dir
	faultBins.bin, faultBins.tar = filepath.Join(dir, "miniagent"), filepath.Join(dir, "busybox.tar")
	cmds := []*exec.Cmd{
		exec.Command("go", "build", "-o", faultBins.bin, "./cmd/miniagent"),
		exec.Command("go", "build", "-o", filepath.Join(dir, "miniagent-cli"), "./cmd/miniagent-cli"),
		exec.Command("go", "build", "-o", filepath.Join(dir, "miniagent-daemon"), "./cmd/miniagent-daemon"),
		exec.Command("go", "build", "-o", filepath.Join(dir, "miniagent-crilog"), "./cmd/miniagent-crilog"),
		exec.Command("bash", filepath.Join(repo, "scripts/build-busybox-image.sh"), faultBins.tar),
	}
	for _, c := range cmds {
		c.Dir = repo
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(c.Args, " "), err, out)
		}
	}
	return nil
}

// faultCleanup removes what buildFaultBinaries made; TestMain calls it.
func faultCleanup() {
	if faultBins.dir != "" {
		_ = os.RemoveAll(faultBins.dir)
	}
}

type rig struct {
	t          *testing.T
	name       string // containerd namespace and cgroup root
	dir        string
	bin        string
	addr       string // containerd socket
	socket     string
	rootDir    string
	logsDir    string
	daemonLog  string
	ctd        *privateContainerd // nil: the host's containerd
	ctdState   string             // containerd's state dir
	daemon     *exec.Cmd
	exited     chan struct{}
	daemonArgs []string
}

// newRig makes a rig, imports the busybox image into its namespace and
// starts its daemon. With private set, it first starts a containerd of its
// own. Everything is removed when the test ends; the daemon log is kept
// under $TMPDIR/miniagent-fault-logs.
func newRig(t *testing.T, private bool) *rig {
	t.Helper()
	return newRigArgs(t, private, logModeArgs()...)
}

// newRigArgs is newRig with extra daemon flags.
func newRigArgs(t *testing.T, private bool, extra ...string) *rig {
	t.Helper()
	return newRigShim(t, private, "", extra...)
}

// newRigShim is newRigArgs whose private containerd finds its shims in
// shimDir first.
func newRigShim(t *testing.T, private bool, shimDir string, extra ...string) *rig {
	t.Helper()
	bin, tar := faultBinaries(t)
	name := fmt.Sprintf("miniagent-fault-%d-%d", os.Getpid(), faultSeq.Add(1))
	// Short paths: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, name: name, dir: dir, bin: bin,
		addr: os.Getenv("MINIAGENT_CONTAINERD_ADDRESS"), ctdState: "/run/containerd",
		socket: filepath.Join(dir, "agent.sock"), rootDir: filepath.Join(dir, "root"),
		logsDir: filepath.Join(dir, "pods"), daemonLog: filepath.Join(dir, "daemon.log")}
	if r.addr == "" {
		r.addr = "/run/containerd/containerd.sock"
	}
	t.Cleanup(r.cleanup)
	if private {
		r.ctd = &privateContainerd{dir: dir, config: filepath.Join(dir, "containerd.toml"), addr: filepath.Join(dir, "c.sock"), shimDir: shimDir}
		r.addr, r.ctdState = r.ctd.addr, filepath.Join(dir, "ctd-state")
		cfg := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
			filepath.Join(dir, "ctd-root"), r.ctdState, r.addr, r.addr+".ttrpc")
		if err := os.WriteFile(r.ctd.config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		startPrivateContainerd(t, r.ctd)
	}
	if out, err := exec.Command(bin, "image", "import", tar, "--containerd-address", r.addr,
		"--containerd-namespace", name).CombinedOutput(); err != nil {
		t.Fatalf("import image into %s: %v\n%s", name, err, out)
	}
	r.daemonArgs = []string{"daemon", "--containerd-address", r.addr, "--containerd-namespace", name, "--containerd-state-dir", r.ctdState,
		"--root-dir", r.rootDir, "--socket", r.socket, "--pod-logs-dir", r.logsDir,
		"--cgroup-root", name, "--node-name", "miniagent-fault-node"}
	r.daemonArgs = append(r.daemonArgs, extra...)
	r.startDaemon()
	t.Logf("rig %s up (load average %s)", name, loadavg())
	return r
}

// scope is what the rig's daemon may leave behind.
func (r *rig) scope() leftoverScope {
	return leftoverScope{Address: r.addr, Namespace: r.name, CgroupRoot: r.name, RootDir: r.rootDir,
		StateDir: filepath.Join(r.rootDir, "ns"), LogsDir: r.logsDir, ContainerdState: r.ctdState}
}

// startDaemon starts the daemon and waits until its API answers.
func (r *rig) startDaemon() {
	r.t.Helper()
	logf, err := os.OpenFile(r.daemonLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n===== fault test: starting daemon at %s =====\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, r.daemonArgs...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start daemon: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.daemon, r.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := r.cli("get", "node", "-o", "json"); err == nil {
			return
		}
		select {
		case <-exited:
			r.t.Fatalf("daemon exited during start-up: %v\n%s", cmd.ProcessState, r.logTail(40))
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("daemon API did not answer within 30s\n%s", r.logTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killDaemon sends SIGKILL to the daemon and waits until it is reaped.
func (r *rig) killDaemon() {
	if r.daemon == nil {
		return
	}
	_ = r.daemon.Process.Signal(syscall.SIGKILL)
	<-r.exited
	r.daemon = nil
}

// daemonAlive reports whether the daemon runs (false after an unexpected exit).
func (r *rig) daemonAlive() bool {
	if r.daemon == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// cli runs the CLI against the rig's daemon; the error carries the output.
func (r *rig) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, append([]string{"--socket", r.socket}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.String(), fmt.Errorf("miniagent %s: %w: %s%s", strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), nil
}

// pods lists the daemon's pods by name (namespace default).
func (r *rig) pods() (map[string]*v1.Pod, error) {
	out, err := r.cli("get", "pods", "-o", "json")
	if err != nil {
		return nil, err
	}
	var list v1.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("decode pod list: %w\n%s", err, out)
	}
	m := map[string]*v1.Pod{}
	for i := range list.Items {
		m[list.Items[i].Name] = &list.Items[i]
	}
	return m, nil
}

// applyManifest writes manifest to a file and applies it; nil means the API
// acknowledged it.
func (r *rig) applyManifest(name, manifest string) error {
	file := filepath.Join(r.dir, name+".yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		return err
	}
	_, err := r.cli("apply", "-f", file)
	return err
}

// deleteAll deletes every pod the daemon lists (grace period 0, without
// waiting each), waits up to a minute until none is listed, and returns
// what went wrong: failed deletes and pods still listed.
func (r *rig) deleteAll() []string {
	pods, err := r.pods()
	if err != nil {
		return []string{err.Error()}
	}
	var errs []string
	for name := range pods {
		// A pod listed a moment ago may be gone now: one whose delete the
		// killed daemon had stored without answering finishes it on restart.
		if _, err := r.cli("delete", "pod", name, "--grace-period", "0", "--wait=false"); err != nil && !strings.Contains(err.Error(), "(NotFound)") {
			errs = append(errs, err.Error())
		}
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
		pods, err = r.pods()
		if err == nil && len(pods) == 0 {
			return errs
		}
		if time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return append(errs, err.Error())
	}
	for _, p := range pods {
		errs = append(errs, fmt.Sprintf("pod %s still listed a minute after its delete: %s", p.Name, podLine(p)))
	}
	return errs
}

// checkNoLeftovers waits up to 15 s for the rig's scope to be empty and
// fails the test with everything still there.
func (r *rig) checkNoLeftovers(when string) {
	r.t.Helper()
	var left []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		if left = listLeftovers(r.scope()); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		r.t.Errorf("%s: %d thing(s) left behind:\n  %s", when, len(left), strings.Join(left, "\n  "))
	}
}

func (r *rig) logTail(n int) string {
	b, err := os.ReadFile(r.daemonLog)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "daemon log (last lines):\n" + strings.Join(lines, "\n")
}

// cleanup stops the daemon, removes everything of the namespace, the
// cgroup root and the mounts, keeps the daemon log, then stops a private
// containerd.
func (r *rig) cleanup() {
	if r.daemonAlive() {
		_ = r.deleteAll()
		_ = r.daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(20 * time.Second):
			r.killDaemon()
		}
	}
	r.daemon = nil
	if r.ctd != nil && r.ctd.cmd != nil {
		select {
		case <-r.ctd.exited: // killed by the test and not restarted
			startPrivateContainerd(r.t, r.ctd)
		default:
		}
	}
	if err := purgeNamespace(r.addr, r.name); err != nil {
		r.t.Logf("clean-up: namespace %s: %v", r.name, err)
	}
	killShims(r.name)
	unmountUnder(r.dir)
	bundles := filepath.Join(r.ctdState, "io.containerd.runtime.v2.task", r.name)
	unmountUnder(bundles)
	if len(mountLeftovers(leftoverScope{Namespace: r.name, ContainerdState: r.ctdState})) == 0 {
		// Bundles of shims containerd lost, and the namespace directory
		// containerd keeps after the namespace is gone.
		_ = os.RemoveAll(bundles)
	}
	if err := cgroups.RemovePath("/" + r.name); err != nil {
		r.t.Logf("clean-up: cgroup root %s: %v", r.name, err)
	}
	if r.ctd != nil {
		r.ctd.kill()
		unmountUnder(r.dir)
	}
	keep := filepath.Join(os.TempDir(), "miniagent-fault-logs")
	if err := os.MkdirAll(keep, 0o755); err == nil {
		dst := filepath.Join(keep, strings.ReplaceAll(r.t.Name(), "/", "_")+".log")
		if b, err := os.ReadFile(r.daemonLog); err == nil && os.WriteFile(dst, b, 0o644) == nil {
			r.t.Logf("daemon log kept at %s", dst)
		}
	}
	if err := os.RemoveAll(r.dir); err != nil {
		r.t.Logf("clean-up: %v", err)
	}
}
