// Package runtime is miniagent's narrow view of a container runtime: images,
// pod sandboxes (namespaces shared by a pod's containers), containers and
// their exit/OOM events. The agent only ever talks to this interface; the
// containerd implementation lives in runtime/containerd and is the only code
// in miniagent that imports containerd. runtime/fake is an in-memory
// implementation for the agent's unit tests.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"
)

// Errors the agent classifies. Implementations wrap them (fmt.Errorf("...: %w", ErrNotFound)).
var (
	// ErrNotFound: the container, task, image or sandbox does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the runtime daemon cannot be reached right now.
	ErrUnavailable = errors.New("runtime unavailable")
	// ErrNoStdin: the container has no open stdin to attach to.
	ErrNoStdin = errors.New("the container has no open stdin")
)

// Labels put on every container miniagent creates, so a restarted agent can
// re-adopt them from the runtime.
const (
	LabelPodUID        = "io.miniagent.pod.uid"
	LabelPodNamespace  = "io.miniagent.pod.namespace"
	LabelPodName       = "io.miniagent.pod.name"
	LabelContainerName = "io.miniagent.container.name"
	LabelAttempt       = "io.miniagent.container.attempt" // restartCount of this instance, decimal
	LabelInit          = "io.miniagent.container.init"    // "true" for init containers
)

// ImageInfo describes an image present in the runtime.
type ImageInfo struct {
	Ref        string // normalised reference, e.g. docker.io/library/busybox:latest
	ID         string // what Kubernetes shows as imageID: <repo>@sha256:<manifest digest>
	ConfigID   string // sha256:<config digest>
	StopSignal string // the image's STOPSIGNAL ("" if unset)
	User       string // the image's USER ("" if unset): "name", "uid", "name:group", "uid:gid"
	Size       int64
}

// PullOptions tune PullImage.
type PullOptions struct {
	// Progress, if set, hears the state of every blob of the pull so far:
	// about every 100 ms while it changes, and once at the end. It is called
	// from one goroutine at a time and must not block.
	Progress func([]BlobProgress)
}

// BlobProgress is how far one blob (manifest, config or layer) of a pull got.
type BlobProgress struct {
	Digest string `json:"digest"`
	Kind   string `json:"kind"` // "index", "manifest", "config", "layer"
	Done   int64  `json:"done"` // bytes fetched
	Total  int64  `json:"total"`
	// Status: "waiting", "downloading", "done" (fetched now) or "exists"
	// (already in the content store).
	Status string `json:"status"`
}

// ImageUser is a container made from an image.
type ImageUser struct {
	ContainerID  string
	PodNamespace string // "" if the container is not a pod's
	PodName      string
	Container    string // the container's name in its pod
}

// ImageInUseError is RemoveImage's refusal: the image still has users.
type ImageInUseError struct {
	Image string
	Users []ImageUser
}

func (e *ImageInUseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "image %q is in use by ", e.Image)
	for i, u := range e.Users {
		if i > 0 {
			b.WriteString(", ")
		}
		switch {
		case u.PodName != "" && u.Container != "":
			fmt.Fprintf(&b, "container %q of pod %s/%s", u.Container, u.PodNamespace, u.PodName)
		case u.PodName != "":
			fmt.Fprintf(&b, "pod %s/%s", u.PodNamespace, u.PodName)
		default:
			fmt.Fprintf(&b, "container %s", u.ContainerID)
		}
		if u.ContainerID != "" && u.PodName != "" {
			fmt.Fprintf(&b, " (container ID %s)", shortID(u.ContainerID))
		}
	}
	b.WriteString(": delete those first")
	return b.String()
}

func shortID(id string) string {
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

// SandboxConfig is what a pod's shared namespaces are made from.
type SandboxConfig struct {
	PodUID       string
	Namespace    string
	Name         string
	HostNetwork  bool
	HostIPC      bool
	CgroupParent string // pod-level cgroup path, e.g. /miniagent/besteffort/pod<uid>
}

// Sandbox is the set of namespaces the containers of one pod join.
// Empty paths mean "the host's".
type Sandbox struct {
	PodUID       string
	NetNSPath    string // bind-mounted network namespace (loopback up), "" for hostNetwork
	IPCNSPath    string // bind-mounted IPC namespace, "" for hostIPC
	CgroupParent string
}

// Mount is one bind or tmpfs mount into a container.
type Mount struct {
	Source      string
	Destination string
	Type        string // "bind" or "tmpfs"
	// Options are mount(8) options: "ro", "rro" (read-only submounts too),
	// "noexec", ...; "rslave" and "rshared" make mounts propagate from the
	// host, and both ways (the source must be a slave or shared mount).
	Options []string
}

// Resources are the cgroup values of one container (zero = unset).
type Resources struct {
	MemoryLimit int64  // bytes
	CPUShares   uint64 // cgroup v1 shares (v2 weight is derived by runc)
	CPUQuota    int64  // microseconds per CPUPeriod, 0 = unlimited
	CPUPeriod   uint64 // microseconds
}

// ContainerSpec is everything needed to create one container instance.
// Each restart of a Kubernetes container is a new ContainerSpec with a new ID.
type ContainerSpec struct {
	ID     string            // unique runtime ID for this instance
	Labels map[string]string // at least the Label* keys above
	Image  string            // normalised reference; must be present (see ImageStatus)

	// Kubernetes semantics: Command replaces the image ENTRYPOINT (and drops the
	// image CMD); Args replace the image CMD. nil means "not set". Both are
	// already $(VAR)-expanded by the agent.
	Command    []string
	Args       []string
	Env        []string // KEY=VALUE, appended after the image's env (later wins)
	WorkingDir string   // "" = the image's
	RunAsUser  *int64
	RunAsGroup *int64

	// The process's groups: its primary group, then (unless
	// StrictSupplementalGroups) the groups the image's /etc/group lists its
	// user in, then SupplementalGroups (fsGroup first, then the pod's
	// supplementalGroups).
	SupplementalGroups       []int64
	StrictSupplementalGroups bool

	// Privileged: every capability the agent has, every host device, no
	// masked or read-only /proc and /sys paths, no seccomp.
	Privileged bool
	// Capabilities added to and dropped from the runtime's default set,
	// named as in Kubernetes ("NET_ADMIN", without CAP_); "ALL" adds or drops
	// all of them before the others are applied.
	AddCapabilities  []string
	DropCapabilities []string
	NoNewPrivileges  bool   // no_new_privs: setuid binaries and file capabilities grant nothing
	ReadOnlyRootfs   bool   // the root filesystem is mounted read-only
	Seccomp          string // "" (unconfined), SeccompRuntimeDefault, or the path of a JSON profile
	HostPID          bool   // the host's PID namespace instead of a new one
	Sysctls          map[string]string

	Mounts      []Mount
	Sandbox     Sandbox
	Hostname    string
	CgroupsPath string // full path of this container's cgroup, e.g. <CgroupParent>/<ID>
	OOMScoreAdj *int   // nil = leave the runtime default
	Resources   Resources

	// LogPath is the CRI-format log file for this instance
	// (/var/log/pods/<ns>_<name>_<uid>/<container>/<attempt>.log). The
	// container's stdout/stderr are written there by a process that survives
	// agent restarts.
	LogPath string

	// Stdin gives the container a stdin that stays open while it runs
	// (until it is removed) for AttachStdin to write to; with StdinOnce it
	// is closed after the first attach session. Without Stdin the
	// container's stdin is /dev/null.
	Stdin     bool
	StdinOnce bool
	// TTY (with Stdin) gives the container a terminal: its output is one
	// stream, logged as stdout; AttachStdin's sizes resize it.
	TTY bool
}

// SeccompRuntimeDefault is ContainerSpec.Seccomp for the runtime's default profile.
const SeccompRuntimeDefault = "runtime/default"

// State of a container instance in the runtime.
type State int

const (
	StateUnknown State = iota
	StateCreated       // container exists, no task started yet
	StateRunning
	StateExited
)

func (s State) String() string {
	switch s {
	case StateCreated:
		return "created"
	case StateRunning:
		return "running"
	case StateExited:
		return "exited"
	}
	return "unknown"
}

// ContainerStatus is what the runtime knows about one container instance.
type ContainerStatus struct {
	ID         string
	Labels     map[string]string
	Image      string
	State      State
	Pid        uint32
	CreatedAt  time.Time
	StartedAt  time.Time // zero until started
	FinishedAt time.Time // zero until exited
	ExitCode   int32
	OOMKilled  bool // an OOM event was seen for this instance (best effort)
}

// EventType tells what happened to a container.
type EventType int

const (
	EventExit EventType = iota + 1 // the container's main process exited
	EventOOM                       // the kernel OOM killer acted in the container's cgroup
	// EventResync: the event stream was re-established after a break;
	// events in the gap may be lost, so the caller re-reads its containers.
	EventResync
)

// Event is a container event. Exec'd processes never produce events.
type Event struct {
	Type        EventType
	ContainerID string
	ExitCode    int32     // EventExit only
	At          time.Time // when it happened
}

// ExecResult is the outcome of one Exec.
type ExecResult struct {
	ExitCode int
	Output   []byte // stdout and stderr interleaved, truncated to the requested limit
}

// TerminalSize is a terminal's size in character cells.
type TerminalSize struct {
	Width, Height uint16
}

// ExecStreams connect an interactive exec to its caller. A nil stream is
// not connected (the process's stdin is then /dev/null, its output dropped).
type ExecStreams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer // unused with TTY: the terminal carries both outputs on Stdout
	// TTY gives the process a terminal (and TERM=xterm unless the
	// container sets TERM).
	TTY bool
	// Resize, with TTY, delivers the caller's terminal size: the first
	// value sets the initial size, before the process starts (0x0, or no
	// value within a second: the terminal starts without a size), later
	// ones resize the terminal.
	Resize <-chan TerminalSize
}

// ErrExecTimeout is returned by Exec when the process ran past its timeout;
// the process has been killed by then.
var ErrExecTimeout = errors.New("exec timed out")

// Runtime is the interface the agent drives. All methods are safe for
// concurrent use. Methods that remove things are idempotent: removing what is
// already gone is not an error.
type Runtime interface {
	// ImageStatus returns the image if present, or an error wrapping ErrNotFound.
	ImageStatus(ctx context.Context, ref string) (ImageInfo, error)
	// PullImage pulls and unpacks ref, reporting progress to opts.Progress.
	PullImage(ctx context.Context, ref string, opts PullOptions) (ImageInfo, error)
	// ListImages returns every image in the runtime's namespace, by name.
	ListImages(ctx context.Context) ([]ImageInfo, error)
	// RemoveImage deletes the image named ref. It refuses with an
	// *ImageInUseError while any container in the namespace (running or
	// not) was made from it; an absent image wraps ErrNotFound.
	RemoveImage(ctx context.Context, ref string) error

	// CreateSandbox creates the pod's namespaces (network with loopback up, IPC).
	// It is idempotent for the same PodUID.
	CreateSandbox(ctx context.Context, cfg SandboxConfig) (Sandbox, error)
	// RemoveSandbox removes the namespaces (unmount, delete) and the pod's cgroup
	// directories in every hierarchy. Containers must be removed first.
	RemoveSandbox(ctx context.Context, sb Sandbox) error

	// CreateContainer creates the container and its snapshot; no task yet.
	CreateContainer(ctx context.Context, spec ContainerSpec) error
	// StartContainer creates and starts the task and returns when it
	// started. The exit is reported on Events.
	StartContainer(ctx context.Context, id string) (time.Time, error)
	// StopContainer sends signal (0 = the image's STOPSIGNAL, else SIGTERM),
	// waits up to grace for the exit, then SIGKILLs and waits for the exit.
	StopContainer(ctx context.Context, id string, signal syscall.Signal, grace time.Duration) error
	// RemoveContainer deletes the task (killing it if needed), the container
	// and its snapshot.
	RemoveContainer(ctx context.Context, id string) error

	// ContainerStatus returns the current status of one container instance.
	ContainerStatus(ctx context.Context, id string) (ContainerStatus, error)
	// ListContainers returns all containers miniagent created (those with LabelPodUID).
	ListContainers(ctx context.Context) ([]ContainerStatus, error)

	// Exec runs cmd in the running container, collecting up to maxOutput bytes of
	// output. Past timeout the process is killed and ErrExecTimeout returned.
	Exec(ctx context.Context, id string, cmd []string, timeout time.Duration, maxOutput int) (ExecResult, error)
	// PrepareExec gets the container's exec path ready ahead of its first
	// Exec (the containerd runtime starts the container's exec server),
	// waiting for a preparation already under way. It is an optimisation:
	// Exec works without it, and an error only means Exec will fall back.
	PrepareExec(ctx context.Context, id string) error

	// ExecStream runs cmd in the running container with the container's
	// environment, user and working directory, connected to streams, and
	// returns its exit code once it exited and its output was copied.
	// When stdin ends, the process's stdin is closed. If ctx ends first,
	// the process is killed. The exec process is removed in every case.
	ExecStream(ctx context.Context, id string, cmd []string, streams ExecStreams) (exitCode int, err error)

	// AttachStdin copies stdin into the stdin of the running container
	// (created with Stdin) until stdin ends or ctx ends; after the first
	// such session of a StdinOnce container its stdin is closed (the
	// process reads EOF). A container without open stdin wraps ErrNoStdin.
	// With a TTY container, resize (if not nil) delivers the session's
	// terminal sizes until it closes or the session ends.
	AttachStdin(ctx context.Context, id string, stdin io.Reader, resize <-chan TerminalSize) error

	// PortForward connects stream to TCP port on 127.0.0.1 inside the
	// network namespace at netnsPath ("" = the host's) and copies both
	// ways until both directions ended or ctx ends; it closes stream and
	// the connection before it returns. A refused or failed dial is an
	// error naming the port.
	PortForward(ctx context.Context, netnsPath string, port int32, stream io.ReadWriteCloser) error

	// Events streams exit and OOM events of containers until ctx ends. If the
	// connection to the daemon breaks, the channel keeps open and the
	// implementation reconnects; callers should re-list containers after
	// Healthy turns true again.
	Events(ctx context.Context) <-chan Event

	// Healthy reports whether the daemon answers right now.
	Healthy(ctx context.Context) error
	// Version is the runtime's name and version, e.g. "containerd://1.6.20".
	Version(ctx context.Context) (string, error)
	Close() error
}
