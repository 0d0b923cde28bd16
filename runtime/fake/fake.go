// Package fake is an in-memory, concurrency-safe runtime.Runtime for the
// agent's unit tests. It keeps images, sandboxes and containers in maps, moves
// containers through created → running → exited as the agent drives them, and
// lets a test make containers exit or be OOM-killed, make methods fail, make
// the whole runtime unavailable, answer execs, and read back a log of calls.
// Timestamps come from an injected clock (k8s.io/utils/clock).
package fake

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/runtime"
)

// Container is what the fake knows about one container instance, including
// instances that were removed.
type Container struct {
	runtime.ContainerStatus
	Spec    runtime.ContainerSpec
	Removed bool
	// Stdin is what attach sessions wrote to the container's stdin;
	// StdinClosed is set once a StdinOnce container's first session ended.
	Stdin       []byte
	StdinClosed bool
}

// StopRequest records the arguments of one StopContainer call.
type StopRequest struct {
	ID     string
	Signal int
	Grace  time.Duration
}

// Runtime is the fake. Create it with New.
type Runtime struct {
	clock clock.Clock

	mu          sync.Mutex
	images      map[string]runtime.ImageInfo
	pullErrs    map[string]error
	pullHook    func(ref string)
	sandboxes   map[string]runtime.Sandbox // by pod UID
	containers  map[string]*Container
	order       []string // container IDs in creation order
	failNext    map[string][]error
	unavailable bool
	calls       []string
	stops       []StopRequest
	stopCode    int32
	nextPid     uint32
	execFn      func(id string, cmd []string) (runtime.ExecResult, error)
	streamFn    func(id string, cmd []string, st runtime.ExecStreams) (int, error)
	startFn     func(id string)
	subs        map[*subscriber]struct{}
	closed      bool
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns an empty fake runtime using clk for every timestamp.
func New(clk clock.Clock) *Runtime {
	return &Runtime{
		clock:      clk,
		images:     map[string]runtime.ImageInfo{},
		pullErrs:   map[string]error{},
		sandboxes:  map[string]runtime.Sandbox{},
		containers: map[string]*Container{},
		failNext:   map[string][]error{},
		subs:       map[*subscriber]struct{}{},
		nextPid:    1000,
	}
}

// AddImage makes an image present, as if pulled or imported before.
func (r *Runtime) AddImage(info runtime.ImageInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.images[info.Ref] = fillImage(info)
}

func fillImage(info runtime.ImageInfo) runtime.ImageInfo {
	if info.ID == "" {
		info.ID = info.Ref + "@sha256:fake"
	}
	if info.ConfigID == "" {
		info.ConfigID = "sha256:fake-config-" + info.Ref
	}
	return info
}

// SetPullError makes every PullImage of ref fail with err (nil clears it).
// Without one, PullImage of any ref succeeds and makes the image present.
func (r *Runtime) SetPullError(ref string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.pullErrs, ref)
		return
	}
	r.pullErrs[ref] = err
}

// SetPullHook makes every PullImage call fn(ref) first, without holding
// the fake's lock (a test can block a pull there); nil clears it.
func (r *Runtime) SetPullHook(fn func(ref string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pullHook = fn
}

// FailNext makes the next call of method (a Runtime method name such as
// "StartContainer") fail with err. Calls queue up: two FailNext for the same
// method fail the next two calls.
func (r *Runtime) FailNext(method string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext[method] = append(r.failNext[method], err)
}

// SetUnavailable makes every method but Events and Close fail with an error
// wrapping runtime.ErrUnavailable until called with false.
func (r *Runtime) SetUnavailable(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unavailable = down
}

// SetStopExitCode sets the exit code a container gets from StopContainer
// (e.g. 143 for a process that exits on SIGTERM). 0 means 137, as if killed.
func (r *Runtime) SetStopExitCode(code int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopCode = code
}

// OnExec installs the handler that answers Exec. Without one, every exec
// succeeds with exit code 0 and no output.
func (r *Runtime) OnExec(fn func(id string, cmd []string) (runtime.ExecResult, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.execFn = fn
}

// OnExecStream installs the handler that answers ExecStream. Without one,
// every interactive exec copies stdin to stdout and exits with code 0.
func (r *Runtime) OnExecStream(fn func(id string, cmd []string, st runtime.ExecStreams) (int, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streamFn = fn
}

// OnStart installs a hook called (without locks held) after each successful
// StartContainer, e.g. to make a container exit at once with Exit.
func (r *Runtime) OnStart(fn func(id string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.startFn = fn
}

// Exit makes the running container id exit with code at the given time and
// emits an EventExit.
func (r *Runtime) Exit(id string, code int32, at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok || c.Removed {
		return fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	if c.State != runtime.StateRunning {
		return fmt.Errorf("container %q is %s, not running", id, c.State)
	}
	r.exitLocked(c, code, at)
	return nil
}

// OOM reports an OOM kill of the running container id: it emits EventOOM,
// marks the status OOMKilled, then makes the container exit with 137.
func (r *Runtime) OOM(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok || c.Removed {
		return fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	if c.State != runtime.StateRunning {
		return fmt.Errorf("container %q is %s, not running", id, c.State)
	}
	now := r.clock.Now()
	c.OOMKilled = true
	r.emitLocked(runtime.Event{Type: runtime.EventOOM, ContainerID: id, At: now})
	r.exitLocked(c, 137, now)
	return nil
}

func (r *Runtime) exitLocked(c *Container, code int32, at time.Time) {
	c.State = runtime.StateExited
	c.ExitCode = code
	c.FinishedAt = at
	c.Pid = 0
	r.emitLocked(runtime.Event{Type: runtime.EventExit, ContainerID: c.ID, ExitCode: code, At: at})
}

// LoseExit makes the running container id exit without an event, as if
// the event stream had been down; Resync then tells subscribers.
func (r *Runtime) LoseExit(id string, code int32, at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok || c.Removed || c.State != runtime.StateRunning {
		return fmt.Errorf("container %q: not running", id)
	}
	c.State, c.ExitCode, c.FinishedAt, c.Pid = runtime.StateExited, code, at, 0
	return nil
}

// Resync emits an EventResync: the event stream was re-established.
func (r *Runtime) Resync() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emitLocked(runtime.Event{Type: runtime.EventResync, At: r.clock.Now()})
}

// Calls returns the log of calls that change something, in order, e.g.
// "pull busybox", "sandbox uid1", "create c1", "start c1", "exec c1 sh -c true",
// "stop c1", "remove c1", "remove-sandbox uid1". Failed calls are logged too.
func (r *Runtime) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// ResetCalls empties the call log.
func (r *Runtime) ResetCalls() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// Stops returns the arguments of every StopContainer call, in order.
func (r *Runtime) Stops() []StopRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]StopRequest(nil), r.stops...)
}

// Containers returns every container instance ever created, removed ones
// included (Removed set), in creation order.
func (r *Runtime) Containers() []Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Container, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, copyContainer(r.containers[id]))
	}
	return out
}

// Sandboxes returns the sandboxes that exist, sorted by pod UID.
func (r *Runtime) Sandboxes() []runtime.Sandbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Sandbox, 0, len(r.sandboxes))
	for _, sb := range r.sandboxes {
		out = append(out, sb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PodUID < out[j].PodUID })
	return out
}

func copyContainer(c *Container) Container {
	out := *c
	out.Labels = copyMap(c.Labels)
	out.Spec.Labels = copyMap(c.Spec.Labels)
	return out
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// subscriber queues events for one Events channel without ever blocking the
// runtime: a goroutine moves them from the queue to the channel.
type subscriber struct {
	ch     chan runtime.Event
	queue  []runtime.Event
	notify chan struct{}
}

// Events returns a channel that receives every exit and OOM event emitted
// after the call, in order, until ctx ends; then it is closed.
func (r *Runtime) Events(ctx context.Context) <-chan runtime.Event {
	s := &subscriber{ch: make(chan runtime.Event), notify: make(chan struct{}, 1)}
	r.mu.Lock()
	r.subs[s] = struct{}{}
	r.mu.Unlock()
	go r.pump(ctx, s)
	return s.ch
}

func (r *Runtime) pump(ctx context.Context, s *subscriber) {
	defer close(s.ch)
	defer func() {
		r.mu.Lock()
		delete(r.subs, s)
		r.mu.Unlock()
	}()
	for {
		r.mu.Lock()
		batch := s.queue
		s.queue = nil
		r.mu.Unlock()
		for _, ev := range batch {
			select {
			case s.ch <- ev:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return
		}
	}
}

func (r *Runtime) emitLocked(ev runtime.Event) {
	for s := range r.subs {
		s.queue = append(s.queue, ev)
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}
