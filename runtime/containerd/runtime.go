// Package containerd implements runtime.Runtime on top of a containerd daemon
// through containerd's Go client. It is the only package in miniagent that
// imports containerd.
//
// Layout of what it creates, all in one containerd namespace:
//
//   - one containerd container (and overlay snapshot named after it) per
//     Kubernetes container instance; a restart is a new container;
//   - labels on each container carry what survives an agent restart: the
//     Kubernetes identity (runtime.Label*), the CRI log path, the start time,
//     and the exit recorded by the exit monitor;
//   - the container's stdout/stderr reach its CRI log file one of two ways
//     (Options.LogMode): the shim appends them to a spool of two plain files
//     that the runtime's crilog.Tailer turns into CRI records (LogModeAgent,
//     no process per container), or containerd's binary log driver starts a
//     small log process (crilog.ShimMain) per container (LogModeProcess).
//     Either way output written while the agent is down is kept;
//   - a pod sandbox is a network namespace (loopback up) and an IPC namespace,
//     bind-mounted under Options.StateDir/<pod uid>/{net,ipc}.
//   - with Options.ExecHelper, each container has the exec server program
//     mounted at ExecHelperPath, and one that has had an exec runs it as the
//     exec process "miniagent-exec", its FIFOs under
//     Options.ExecDir/<container id> (execserver.go).
package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	ctrlog "github.com/containerd/log"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/miniagent/miniagent/runtime"
	"github.com/miniagent/miniagent/runtime/crilog"
)

// Labels this package adds to containers besides the caller's.
const (
	LabelLogPath     = "io.miniagent.log-path"
	LabelCgroupsPath = "io.miniagent.cgroups-path"
	LabelStartedAt   = "io.miniagent.started-at"  // RFC3339Nano
	LabelFinishedAt  = "io.miniagent.finished-at" // RFC3339Nano, set by the exit monitor
	LabelExitCode    = "io.miniagent.exit-code"   // decimal, set by the exit monitor
	LabelOOMKilled   = "io.miniagent.oom-killed"  // "true" when the cgroup saw an OOM kill
)

// Defaults for Options.
const (
	DefaultAddress     = "/run/containerd/containerd.sock"
	DefaultNamespace   = "miniagent"
	DefaultStateDir    = "/run/miniagent/ns"
	DefaultSnapshotter = "overlayfs"
	// DefaultContainerdStateDir is containerd's own default state
	// directory (its "state" setting).
	DefaultContainerdStateDir = "/run/containerd"
)

// healthTimeout bounds Healthy and Version calls.
const healthTimeout = 2 * time.Second

// Options configure New.
type Options struct {
	Address   string // containerd socket (DefaultAddress)
	Namespace string // containerd namespace (DefaultNamespace)
	StateDir  string // where the netns/ipc bind mounts live (DefaultStateDir)
	// ContainerdStateDir is containerd's state directory (its "state"
	// setting, DefaultContainerdStateDir), where its runc v2 task
	// bundles live: the runtime removes a bundle a killed containerd
	// left behind for a container it deletes.
	ContainerdStateDir string
	Snapshotter        string // DefaultSnapshotter
	// InsecureRegistries are the registry hosts (HOST or HOST:PORT) pulled
	// from over plain HTTP; every other registry, localhost included, is
	// HTTPS only.
	InsecureRegistries []string

	// LogShim is the argv prefix of the log process the shim starts for every
	// task: an absolute program path and at most one argument, e.g.
	// {"/usr/local/bin/miniagent", "crilog-shim"}. The process is run as
	// LogShim[0] LogShim[1] <log path>; with a one-element LogShim as
	// LogShim[0] <log path> "". The program must call crilog.ShimMain with the
	// arguments after the prefix. Empty LogShim: container output is discarded.
	LogShim []string

	// LogMode is LogModeAgent or LogModeProcess ("" = process). In agent
	// mode new tasks log through a spool under LogSpoolDir.
	LogMode string
	// LogSpoolDir holds the log spools (one directory per container). Set
	// it whatever the mode: spools left by an agent in agent mode are
	// followed and finished in either mode.
	LogSpoolDir string
	// OnLogError hears of log errors that have no caller (a full disk
	// while writing a log); nil ignores them.
	OnLogError func(containerID string, err error)
	// ExecHelper is the host path of the exec server program
	// (execserver/execserver.c, built as bin/miniagent-exec): it is
	// bind-mounted into every container created and runs its execs. Empty:
	// every exec goes through runc exec.
	ExecHelper string
	// ExecDir holds the exec servers' FIFOs, a directory per container
	// (default: "exec" beside StateDir).
	ExecDir string
	// Log receives the runtime's own warnings (exec fallbacks); nil: none.
	Log *slog.Logger
}

// Runtime is the containerd implementation of runtime.Runtime.
type Runtime struct {
	client *client.Client
	opts   Options

	// bg is the context of background work (exit records); Close cancels it.
	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	sandboxMu sync.Mutex // serialises CreateSandbox/RemoveSandbox

	facts   factsCache // image content facts by target digest
	created sync.Map   // ID → client.Container made by CreateContainer and not yet started or removed
	running sync.Map   // ID → cgroups path of a container this runtime started, until its exit is recorded
	// execLive: container ID → its running exec server, for the server's
	// exit event (watchExecServers, started once by execWatch).
	execLive  sync.Map
	execWatch sync.Once
	lease     createLease

	tailer        *crilog.Tailer // nil without LogSpoolDir
	execMu        sync.Mutex     // guards execs
	execs         map[string]*execEntry
	execFallbacks *prometheus.CounterVec
	execLogged    sync.Map // fallback reasons already logged

	stdinDir string // the containers' stdin FIFOs, "stdin" beside StateDir
}

var _ runtime.Runtime = (*Runtime)(nil)

// New connects to containerd. It does not wait for the daemon to answer;
// use Healthy for that.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	// The client's own logrus lines ("fetch failed", ...) would interleave
	// with the agent's structured log; the errors reach the agent anyway.
	_ = ctrlog.SetLevel("warn")
	if opts.Address == "" {
		opts.Address = DefaultAddress
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.Snapshotter == "" {
		opts.Snapshotter = DefaultSnapshotter
	}
	if opts.ContainerdStateDir == "" {
		opts.ContainerdStateDir = DefaultContainerdStateDir
	}
	if !filepath.IsAbs(opts.ContainerdStateDir) {
		return nil, fmt.Errorf("containerd state dir %q must be absolute", opts.ContainerdStateDir)
	}
	if n := len(opts.LogShim); n > 2 {
		return nil, fmt.Errorf("log shim %q: at most a program and one argument", opts.LogShim)
	} else if n > 0 && !filepath.IsAbs(opts.LogShim[0]) {
		return nil, fmt.Errorf("log shim %q: program path must be absolute", opts.LogShim[0])
	}
	switch opts.LogMode {
	case "":
		opts.LogMode = LogModeProcess
	case LogModeProcess, LogModeAgent:
	default:
		return nil, fmt.Errorf("log mode %q: want %q or %q", opts.LogMode, LogModeAgent, LogModeProcess)
	}
	if opts.LogSpoolDir != "" && !filepath.IsAbs(opts.LogSpoolDir) {
		return nil, fmt.Errorf("log spool dir %q must be absolute", opts.LogSpoolDir)
	}
	if opts.LogMode == LogModeAgent && opts.LogSpoolDir == "" {
		return nil, fmt.Errorf("log mode %q needs a log spool dir", LogModeAgent)
	}
	if !filepath.IsAbs(opts.StateDir) {
		return nil, fmt.Errorf("state dir %q must be absolute", opts.StateDir)
	}
	if opts.ExecDir == "" {
		opts.ExecDir = filepath.Join(filepath.Dir(opts.StateDir), "exec")
	}
	if !filepath.IsAbs(opts.ExecDir) {
		return nil, fmt.Errorf("exec dir %q must be absolute", opts.ExecDir)
	}
	if err := checkExecHelper(opts.ExecHelper); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	c, err := client.New(opts.Address, client.WithDefaultNamespace(opts.Namespace))
	if err != nil {
		return nil, classify(fmt.Errorf("connect to containerd at %s: %w", opts.Address, err))
	}
	bg, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), opts.Namespace))
	fallbacks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "miniagent_exec_fallbacks_total",
		Help: "Execs (exec probes) that went through runc exec instead of the container's exec server, by reason.",
	}, []string{"reason"})
	for _, reason := range []string{FallbackNoHelper, FallbackBusy, FallbackStartFailed, FallbackServerDied, FallbackProtocol, FallbackServerError} {
		fallbacks.WithLabelValues(reason) // every reason is exported, from 0
	}
	r := &Runtime{
		client: c, opts: opts, bg: bg, cancel: cancel,
		execs:         map[string]*execEntry{},
		execFallbacks: fallbacks,
		stdinDir:      filepath.Join(filepath.Dir(opts.StateDir), "stdin"),
	}
	if err := r.startLogs(); err != nil {
		cancel()
		_ = c.Close()
		return nil, err
	}
	return r, nil
}

// checkExecHelper checks Options.ExecHelper: empty, or an absolute path of
// an executable regular file.
func checkExecHelper(p string) error {
	if p == "" {
		return nil
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("exec helper %q: path must be absolute", p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("exec helper: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o005 != 0o005 {
		return fmt.Errorf("exec helper %q: not a regular file that every user can read and execute (mode %v)", p, fi.Mode())
	}
	return nil
}

// Collectors are the runtime's Prometheus metrics, for the caller's
// registry: miniagent_exec_fallbacks_total{reason}.
func (r *Runtime) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.execFallbacks}
}

// Close ends the exec servers, stops background work and closes the
// connection. Containers, tasks and log processes keep running; log
// spools stay for the next agent.
func (r *Runtime) Close() error {
	r.closeExecServers()
	r.cancel()
	r.wg.Wait()
	r.closeLease()
	if r.tailer != nil {
		_ = r.tailer.Close()
	}
	return r.client.Close()
}

// ns puts the runtime's containerd namespace on ctx.
func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.opts.Namespace)
}

// Healthy reports whether containerd answers within a short timeout.
func (r *Runtime) Healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(r.ns(ctx), healthTimeout)
	defer cancel()
	ok, err := r.client.IsServing(ctx)
	if err != nil {
		return classify(fmt.Errorf("containerd health check: %w", err))
	}
	if !ok {
		return fmt.Errorf("containerd is not serving: %w", runtime.ErrUnavailable)
	}
	return nil
}

// Version returns "containerd://<version>".
func (r *Runtime) Version(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(r.ns(ctx), healthTimeout)
	defer cancel()
	v, err := r.client.Version(ctx)
	if err != nil {
		return "", classify(fmt.Errorf("containerd version: %w", err))
	}
	return "containerd://" + v.Version, nil
}

// classify adds runtime.ErrNotFound or runtime.ErrUnavailable to err when
// containerd's error means that, keeping the original message.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, runtime.ErrNotFound), errors.Is(err, runtime.ErrUnavailable):
		return err
	case errdefs.IsNotFound(err):
		return fmt.Errorf("%w: %w", err, runtime.ErrNotFound)
	case isUnavailable(err):
		return fmt.Errorf("%w: %w", err, runtime.ErrUnavailable)
	}
	return err
}

func isUnavailable(err error) bool {
	if errdefs.IsUnavailable(err) {
		return true
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.Unavailable {
		return true
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
