package metrics

import (
	"context"
	"io"
	"syscall"
	"time"

	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/runtime"
)

// InstrumentRuntime returns rt with every call counted in
// kubelet_runtime_operations_total, timed on clk in
// kubelet_runtime_operations_duration_seconds and, when it fails, counted
// in kubelet_runtime_operations_errors_total. The operation types are the
// names kubelet gives the CRI calls that do the same (run_podsandbox for
// CreateSandbox, exec_sync for Exec, status for Healthy, ...). A nil
// Metrics returns rt itself; a nil clk is the real clock.
func (m *Metrics) InstrumentRuntime(rt runtime.Runtime, clk clock.PassiveClock) runtime.Runtime {
	if m == nil {
		return rt
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &instrumented{next: rt, m: m, clock: clk}
}

// instrumented is a runtime.Runtime that records each call it passes on.
type instrumented struct {
	next  runtime.Runtime
	m     *Metrics
	clock clock.PassiveClock
}

// done records one call of operation op that began at start.
func (r *instrumented) done(op string, start time.Time, err error) {
	r.m.runtimeOps.WithLabelValues(op).Inc()
	r.m.runtimeDuration.WithLabelValues(op).Observe(r.clock.Since(start).Seconds())
	if err != nil {
		r.m.runtimeErrors.WithLabelValues(op).Inc()
	}
}

func (r *instrumented) ImageStatus(ctx context.Context, ref string) (runtime.ImageInfo, error) {
	start := r.clock.Now()
	info, err := r.next.ImageStatus(ctx, ref)
	r.done("image_status", start, err)
	return info, err
}

func (r *instrumented) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.ImageInfo, error) {
	start := r.clock.Now()
	info, err := r.next.PullImage(ctx, ref, opts)
	r.done("pull_image", start, err)
	return info, err
}

func (r *instrumented) ListImages(ctx context.Context) ([]runtime.ImageInfo, error) {
	start := r.clock.Now()
	out, err := r.next.ListImages(ctx)
	r.done("list_images", start, err)
	return out, err
}

func (r *instrumented) RemoveImage(ctx context.Context, ref string) error {
	start := r.clock.Now()
	err := r.next.RemoveImage(ctx, ref)
	r.done("remove_image", start, err)
	return err
}

func (r *instrumented) CreateSandbox(ctx context.Context, cfg runtime.SandboxConfig) (runtime.Sandbox, error) {
	start := r.clock.Now()
	sb, err := r.next.CreateSandbox(ctx, cfg)
	r.done("run_podsandbox", start, err)
	return sb, err
}

func (r *instrumented) RemoveSandbox(ctx context.Context, sb runtime.Sandbox) error {
	start := r.clock.Now()
	err := r.next.RemoveSandbox(ctx, sb)
	r.done("remove_podsandbox", start, err)
	return err
}

func (r *instrumented) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) error {
	start := r.clock.Now()
	err := r.next.CreateContainer(ctx, spec)
	r.done("create_container", start, err)
	return err
}

func (r *instrumented) StartContainer(ctx context.Context, id string) (time.Time, error) {
	start := r.clock.Now()
	started, err := r.next.StartContainer(ctx, id)
	r.done("start_container", start, err)
	return started, err
}

func (r *instrumented) StopContainer(ctx context.Context, id string, signal syscall.Signal, grace time.Duration) error {
	start := r.clock.Now()
	err := r.next.StopContainer(ctx, id, signal, grace)
	r.done("stop_container", start, err)
	return err
}

func (r *instrumented) RemoveContainer(ctx context.Context, id string) error {
	start := r.clock.Now()
	err := r.next.RemoveContainer(ctx, id)
	r.done("remove_container", start, err)
	return err
}

func (r *instrumented) ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	start := r.clock.Now()
	st, err := r.next.ContainerStatus(ctx, id)
	r.done("container_status", start, err)
	return st, err
}

func (r *instrumented) ListContainers(ctx context.Context) ([]runtime.ContainerStatus, error) {
	start := r.clock.Now()
	list, err := r.next.ListContainers(ctx)
	r.done("list_containers", start, err)
	return list, err
}

func (r *instrumented) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration, maxOutput int) (runtime.ExecResult, error) {
	start := r.clock.Now()
	res, err := r.next.Exec(ctx, id, cmd, timeout, maxOutput)
	r.done("exec_sync", start, err)
	return res, err
}

// PrepareExec is passed through uncounted: kubelet has no such operation.
func (r *instrumented) PrepareExec(ctx context.Context, id string) error {
	return r.next.PrepareExec(ctx, id)
}

// Events counts the subscription, not the events.
func (r *instrumented) Events(ctx context.Context) <-chan runtime.Event {
	start := r.clock.Now()
	ch := r.next.Events(ctx)
	r.done("get_container_events", start, nil)
	return ch
}

func (r *instrumented) Healthy(ctx context.Context) error {
	start := r.clock.Now()
	err := r.next.Healthy(ctx)
	r.done("status", start, err)
	return err
}

func (r *instrumented) Version(ctx context.Context) (string, error) {
	start := r.clock.Now()
	v, err := r.next.Version(ctx)
	r.done("version", start, err)
	return v, err
}

// Close is not a runtime operation: it only drops the connection.
func (r *instrumented) Close() error { return r.next.Close() }

// ExecStream is counted as kubelet's "exec" (the CRI call that starts an
// interactive exec); its duration is the whole session's.
func (r *instrumented) ExecStream(ctx context.Context, id string, cmd []string, st runtime.ExecStreams) (int, error) {
	start := r.clock.Now()
	code, err := r.next.ExecStream(ctx, id, cmd, st)
	r.done("exec", start, err)
	return code, err
}

// AttachStdin is counted as kubelet's "attach"; its duration is the
// session's.
func (r *instrumented) AttachStdin(ctx context.Context, id string, stdin io.Reader, resize <-chan runtime.TerminalSize) error {
	start := r.clock.Now()
	err := r.next.AttachStdin(ctx, id, stdin, resize)
	r.done("attach", start, err)
	return err
}

// PortForward is counted as kubelet's "port_forward", one per connection.
func (r *instrumented) PortForward(ctx context.Context, netnsPath string, port int32, stream io.ReadWriteCloser) error {
	start := r.clock.Now()
	err := r.next.PortForward(ctx, netnsPath, port, stream)
	r.done("port_forward", start, err)
	return err
}
