package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// harness is the one daemon all tests of a run share.
type harness struct {
	repo          string // repository root
	dir           string // temporary directory for everything below
	bin           string // the miniagent binary
	socket        string
	rootDir       string
	logsDir       string
	manifestDir   string
	daemonLog     string
	containerdAdr string

	mu      sync.Mutex
	daemon  *exec.Cmd     // nil while deliberately stopped
	exited  chan struct{} // closed when daemon's process has been reaped
	crashes []string      // unexpected daemon exits, for the end of the run

	revive sync.Mutex // one test at a time restarts a dead daemon
}

var (
	h        *harness
	setupErr error
)

func TestMain(m *testing.M) {
	if os.Getenv("MINIAGENT_E2E") != "1" {
		// Every test calls e2e(t), which skips.
		os.Exit(m.Run())
	}
	if err := checkRunNames(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	flag.Parse()
	if faultOnlyRun() {
		// Fault tests start daemons of their own, with their own namespace
		// and cgroup root: no shared harness, no host-wide lock.
		setupErr = errors.New("the shared harness is not set up when -run selects only TestFault tests")
		code := m.Run()
		faultCleanup()
		os.Exit(code)
	}
	// Runs that share the containerd namespace: one at a time.
	unlock, err := lockRun()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	defer unlock()
	h, setupErr = newHarness()
	if setupErr == nil {
		setupErr = h.startDaemon()
	}
	if setupErr != nil {
		fmt.Fprintf(os.Stderr, "e2e set-up failed: %v\n", setupErr)
	} else {
		startChecks(h)
	}
	code := m.Run()
	if h != nil {
		h.reviveDaemon() // record an exit during the last test
		h.teardown()
		if len(h.crashes) > 0 {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: the daemon exited unexpectedly %d time(s):\n  %s\n", len(h.crashes), strings.Join(h.crashes, "\n  "))
			code = 1
		}
	}
	if left := finishChecks(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: %d pod status(es) broke kubelet's rules outside the test that owns the pod:\n  %s\n", len(left), strings.Join(left, "\n  "))
		code = 1
	}
	unlock()
	faultCleanup()
	os.Exit(code)
}

// e2e returns the shared harness, or skips/fails the test when the e2e tests
// are disabled or the set-up failed.
func e2e(t *testing.T) *harness {
	t.Helper()
	if os.Getenv("MINIAGENT_E2E") != "1" {
		t.Skip("end-to-end test: set MINIAGENT_E2E=1 (needs root and containerd)")
	}
	if setupErr != nil {
		t.Fatalf("e2e set-up failed: %v", setupErr)
	}
	if note := h.reviveDaemon(); note != "" {
		t.Logf("e2e: %s", note)
	}
	watchTest(t)
	return h
}

// reviveDaemon restarts the daemon if it exited without being asked to, so
// one crash does not fail every later test. The crash is recorded and fails
// the run at the end.
func (x *harness) reviveDaemon() string {
	x.revive.Lock()
	defer x.revive.Unlock()
	x.mu.Lock()
	cmd, exited := x.daemon, x.exited
	x.mu.Unlock()
	if cmd == nil {
		return ""
	}
	select {
	case <-exited:
	default:
		return ""
	}
	note := fmt.Sprintf("daemon exited unexpectedly (%v) at about %s", cmd.ProcessState, time.Now().Format(time.RFC3339))
	fmt.Fprintf(os.Stderr, "e2e: %s; restarting it\n%s\n", note, x.logTail(20))
	x.mu.Lock()
	x.daemon = nil
	x.crashes = append(x.crashes, note)
	x.mu.Unlock()
	if err := x.startDaemon(); err != nil {
		return note + "; restart failed: " + err.Error()
	}
	return note + "; restarted"
}

func newHarness() (*harness, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the end-to-end tests need root")
	}
	repo, err := repoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "miniagent-e2e-")
	if err != nil {
		return nil, err
	}
	addr := os.Getenv("MINIAGENT_CONTAINERD_ADDRESS")
	if addr == "" {
		addr = "/run/containerd/containerd.sock"
	}
	x := &harness{
		repo:          repo,
		dir:           dir,
		bin:           filepath.Join(dir, "miniagent"),
		socket:        filepath.Join(dir, "miniagent.sock"),
		rootDir:       filepath.Join(dir, "root"),
		logsDir:       filepath.Join(dir, "pods"),
		manifestDir:   filepath.Join(dir, "manifests"),
		daemonLog:     filepath.Join(os.TempDir(), testNamespace+"-daemon.log"),
		containerdAdr: addr,
	}
	for _, d := range []string{x.rootDir, x.logsDir, x.manifestDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return x, err
		}
	}
	if err := x.cleanNamespace(); err != nil {
		return x, fmt.Errorf("empty containerd namespace %s before the run: %w", testNamespace, err)
	}
	step := func(name string, cmd *exec.Cmd) error {
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		fmt.Fprintf(os.Stderr, "e2e: %s (%v)\n", name, time.Since(start).Round(time.Millisecond))
		return nil
	}
	build := exec.Command("go", "build", "-o", x.bin, "./cmd/miniagent")
	build.Dir = repo
	if err := step("build miniagent", build); err != nil {
		return x, err
	}
	// The full client that miniagent execs for every verb but the quick
	// `get pods`, next to it.
	cliBin := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(x.bin), "miniagent-cli"), "./cmd/miniagent-cli")
	cliBin.Dir = repo
	if err := step("build miniagent-cli", cliBin); err != nil {
		return x, err
	}
	// The daemon that `miniagent daemon` execs, next to the client.
	daemonBin := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(x.bin), "miniagent-daemon"), "./cmd/miniagent-daemon")
	daemonBin.Dir = repo
	if err := step("build miniagent-daemon", daemonBin); err != nil {
		return x, err
	}
	// The log process the shim starts, next to the daemon as a user installs it.
	logBin := exec.Command("go", "build", "-o", filepath.Join(filepath.Dir(x.bin), "miniagent-crilog"), "./cmd/miniagent-crilog")
	logBin.Dir = repo
	if err := step("build miniagent-crilog", logBin); err != nil {
		return x, err
	}
	// The exec probe server, next to the daemon too, as setup.sh builds it.
	execBin := exec.Command("gcc", "-static", "-Os", "-s", "-o", filepath.Join(filepath.Dir(x.bin), "miniagent-exec"), "runtime/containerd/execserver/execserver.c")
	execBin.Dir = repo
	if err := step("build miniagent-exec", execBin); err != nil {
		return x, err
	}
	tar := filepath.Join(dir, "busybox.tar")
	if err := step("build busybox image", exec.Command("bash", filepath.Join(repo, "scripts/build-busybox-image.sh"), tar)); err != nil {
		return x, err
	}
	imp := exec.Command(x.bin, "image", "import", tar, "--containerd-address", addr, "--containerd-namespace", testNamespace)
	if err := step("import busybox image", imp); err != nil {
		return x, err
	}
	return x, nil
}

// logModeArgs selects the daemon's container log mode from
// MINIAGENT_E2E_LOG_MODE (agent or process; unset: the daemon's default),
// so the suite can run in both.
func logModeArgs() []string {
	if m := os.Getenv("MINIAGENT_E2E_LOG_MODE"); m != "" {
		return []string{"--container-log-mode", m}
	}
	return nil
}

// repoRoot walks up from the working directory to the directory with go.mod.
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

// startDaemon starts `miniagent daemon` and waits until its API answers.
func (x *harness) startDaemon() error {
	logf, err := os.OpenFile(x.daemonLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n===== e2e: starting daemon at %s =====\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(x.bin, "daemon",
		"--containerd-address", x.containerdAdr,
		"--containerd-namespace", testNamespace,
		"--root-dir", x.rootDir,
		"--socket", x.socket,
		"--pod-logs-dir", x.logsDir,
		"--pod-manifest-path", x.manifestDir,
		"--cgroup-root", cgroupRoot,
		"--node-name", nodeName,
		"--node-labels", "kubernetes.io/e2e-az-name=e2e-az1,miniagent.test/e2e=true",
		"--insecure-registry", registryAddr,
	)
	cmd.Args = append(cmd.Args, logModeArgs()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C on `go test` does not reach the daemon first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	x.mu.Lock()
	x.daemon, x.exited = cmd, exited
	x.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, err := x.cli(context.Background(), "get", "node", "-o", "json")
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("daemon exited during start-up: %v\n%s", cmd.ProcessState, x.logTail(40))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon API did not answer within 30s: %v\n%s", err, x.logTail(40))
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// stopDaemon sends sig to the daemon and waits for it to exit (SIGKILL after 20s).
func (x *harness) stopDaemon(sig syscall.Signal) error {
	x.mu.Lock()
	cmd, exited := x.daemon, x.exited
	x.daemon = nil
	x.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("daemon ignored %v for 20s and was killed", sig)
	}
}

// restartDaemon kills the daemon with SIGKILL (no chance to clean up) and
// starts it again with the same directories.
func (x *harness) restartDaemon(t *testing.T) {
	t.Helper()
	if err := x.stopDaemon(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := x.startDaemon(); err != nil {
		t.Fatal(err)
	}
}

// teardown deletes every pod, stops the daemon, empties the namespace, and
// removes what the daemon may have left on the host.
func (x *harness) teardown() {
	if x.daemon != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		for _, p := range x.listPodNames(ctx) {
			ns, name, _ := strings.Cut(p, "/")
			if _, _, err := x.cli(ctx, "delete", "pod", name, "-n", ns, "--grace-period", "0", "--wait=true"); err != nil {
				fmt.Fprintf(os.Stderr, "e2e teardown: delete pod %s: %v\n", p, err)
			}
		}
		cancel()
		if err := x.stopDaemon(syscall.SIGTERM); err != nil {
			fmt.Fprintf(os.Stderr, "e2e teardown: %v\n", err)
		}
	}
	if err := x.cleanNamespace(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e teardown: empty namespace %s: %v\n", testNamespace, err)
	}
	x.cleanHost()
	fmt.Fprintf(os.Stderr, "e2e: daemon log kept at %s\n", x.daemonLog)
	if err := os.RemoveAll(x.dir); err != nil {
		fmt.Fprintf(os.Stderr, "e2e teardown: %v\n", err)
	}
}

// listPodNames returns "namespace/name" of every pod the daemon knows.
func (x *harness) listPodNames(ctx context.Context) []string {
	out, _, err := x.cli(ctx, "get", "pods", "-A", "-o", "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}")
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

// cli runs the miniagent CLI against the test daemon.
func (x *harness) cli(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return x.cliStdin(ctx, nil, args...)
}

func (x *harness) cliStdin(ctx context.Context, stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, x.bin, args...)
	cmd.Env = append(os.Environ(), "MINIAGENT_SOCKET="+x.socket)
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("miniagent %s: %w\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String(), err
}

// logTail returns the last n lines of the daemon log.
func (x *harness) logTail(n int) string {
	b, err := os.ReadFile(x.daemonLog)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "daemon log (last lines):\n" + strings.Join(lines, "\n")
}
