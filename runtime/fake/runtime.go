package fake

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/miniagent/miniagent/runtime"
)

// begin logs the call (if entry is not ""), then returns the error the call
// must fail with: the runtime being unavailable or closed, or a FailNext
// error queued for method. It must be called with r.mu held.
func (r *Runtime) begin(method, entry string) error {
	if entry != "" {
		r.calls = append(r.calls, entry)
	}
	if r.closed {
		return errors.New("fake runtime: closed")
	}
	if r.unavailable {
		return fmt.Errorf("%s: %w", method, runtime.ErrUnavailable)
	}
	if q := r.failNext[method]; len(q) > 0 {
		r.failNext[method] = q[1:]
		return q[0]
	}
	return nil
}

func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, runtime.ErrNotFound)
}

// ImageStatus returns the image if present.
func (r *Runtime) ImageStatus(ctx context.Context, ref string) (runtime.ImageInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("ImageStatus", ""); err != nil {
		return runtime.ImageInfo{}, err
	}
	info, ok := r.images[ref]
	if !ok {
		return runtime.ImageInfo{}, notFound("image", ref)
	}
	return info, nil
}

// PullImage makes ref present unless a pull error was set for it. A pull
// hook (SetPullHook) runs first, outside the fake's lock; opts.Progress
// hears one layer of the image's size, first waiting, then done.
func (r *Runtime) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.ImageInfo, error) {
	r.mu.Lock()
	hook := r.pullHook
	r.mu.Unlock()
	if hook != nil {
		hook(ref)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("PullImage", "pull "+ref); err != nil {
		return runtime.ImageInfo{}, err
	}
	if err := r.pullErrs[ref]; err != nil {
		return runtime.ImageInfo{}, err
	}
	info, ok := r.images[ref]
	if !ok {
		info = fillImage(runtime.ImageInfo{Ref: ref, Size: 1 << 20})
		r.images[ref] = info
	}
	if opts.Progress != nil {
		blob := runtime.BlobProgress{Digest: "sha256:fakelayer", Kind: "layer", Total: info.Size, Status: "waiting"}
		opts.Progress([]runtime.BlobProgress{blob})
		blob.Done, blob.Status = info.Size, "done"
		opts.Progress([]runtime.BlobProgress{blob})
	}
	return info, nil
}

// ListImages returns the present images, sorted by name.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.ImageInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("ListImages", ""); err != nil {
		return nil, err
	}
	out := make([]runtime.ImageInfo, 0, len(r.images))
	for _, info := range r.images {
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// RemoveImage removes ref unless a container (in any state) uses it.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("RemoveImage", "rmi "+ref); err != nil {
		return err
	}
	if _, ok := r.images[ref]; !ok {
		return notFound("image", ref)
	}
	var users []runtime.ImageUser
	for _, id := range r.order {
		c, ok := r.containers[id]
		if !ok || c.Removed || c.Image != ref {
			continue
		}
		users = append(users, runtime.ImageUser{
			ContainerID: id, PodNamespace: c.Labels[runtime.LabelPodNamespace],
			PodName: c.Labels[runtime.LabelPodName], Container: c.Labels[runtime.LabelContainerName],
		})
	}
	if len(users) > 0 {
		return &runtime.ImageInUseError{Image: ref, Users: users}
	}
	delete(r.images, ref)
	return nil
}

// CreateSandbox creates (or returns the existing) sandbox of cfg.PodUID.
func (r *Runtime) CreateSandbox(ctx context.Context, cfg runtime.SandboxConfig) (runtime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("CreateSandbox", "sandbox "+cfg.PodUID); err != nil {
		return runtime.Sandbox{}, err
	}
	if sb, ok := r.sandboxes[cfg.PodUID]; ok {
		return sb, nil
	}
	sb := runtime.Sandbox{PodUID: cfg.PodUID, CgroupParent: cfg.CgroupParent}
	if !cfg.HostNetwork {
		sb.NetNSPath = "/run/fake/netns/" + cfg.PodUID
	}
	if !cfg.HostIPC {
		sb.IPCNSPath = "/run/fake/ipcns/" + cfg.PodUID
	}
	r.sandboxes[cfg.PodUID] = sb
	return sb, nil
}

// RemoveSandbox removes the sandbox; it fails while containers of the pod
// still exist. Removing an absent sandbox is not an error.
func (r *Runtime) RemoveSandbox(ctx context.Context, sb runtime.Sandbox) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("RemoveSandbox", "remove-sandbox "+sb.PodUID); err != nil {
		return err
	}
	for _, id := range r.order {
		c := r.containers[id]
		if !c.Removed && c.Labels[runtime.LabelPodUID] == sb.PodUID {
			return fmt.Errorf("remove sandbox %q: container %q still exists", sb.PodUID, id)
		}
	}
	delete(r.sandboxes, sb.PodUID)
	return nil
}

// CreateContainer creates a container in state created. The image must be
// present and the ID unused.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("CreateContainer", "create "+spec.ID); err != nil {
		return err
	}
	if _, ok := r.images[spec.Image]; !ok {
		return fmt.Errorf("create container %q: %w", spec.ID, notFound("image", spec.Image))
	}
	if c, ok := r.containers[spec.ID]; ok && !c.Removed {
		return fmt.Errorf("create container %q: already exists", spec.ID)
	} else if ok {
		r.order = removeID(r.order, spec.ID)
	}
	spec.Labels = copyMap(spec.Labels)
	r.containers[spec.ID] = &Container{
		Spec: spec,
		ContainerStatus: runtime.ContainerStatus{
			ID: spec.ID, Labels: copyMap(spec.Labels), Image: spec.Image,
			State: runtime.StateCreated, CreatedAt: r.clock.Now(),
		},
	}
	r.order = append(r.order, spec.ID)
	return nil
}

func removeID(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}

// StartContainer moves a created container to running.
func (r *Runtime) StartContainer(ctx context.Context, id string) (time.Time, error) {
	r.mu.Lock()
	err := r.startLocked(id)
	var started time.Time
	if err == nil {
		started = r.containers[id].StartedAt
	}
	hook := r.startFn
	r.mu.Unlock()
	if err == nil && hook != nil {
		hook(id)
	}
	return started, err
}

func (r *Runtime) startLocked(id string) error {
	if err := r.begin("StartContainer", "start "+id); err != nil {
		return err
	}
	c, ok := r.containers[id]
	if !ok || c.Removed {
		return notFound("container", id)
	}
	if c.State != runtime.StateCreated {
		return fmt.Errorf("start container %q: it is %s", id, c.State)
	}
	r.nextPid++
	c.State = runtime.StateRunning
	c.Pid = r.nextPid
	c.StartedAt = r.clock.Now()
	return nil
}

// StopContainer makes a running container exit with 137 (or the code set
// with SetStopExitCode) at once and emits EventExit. Stopping a container that
// is not running does nothing.
func (r *Runtime) StopContainer(ctx context.Context, id string, signal syscall.Signal, grace time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("StopContainer", "stop "+id); err != nil {
		return err
	}
	r.stops = append(r.stops, StopRequest{ID: id, Signal: int(signal), Grace: grace})
	c, ok := r.containers[id]
	if !ok || c.Removed {
		return notFound("container", id)
	}
	if c.State == runtime.StateRunning {
		code := r.stopCode
		if code == 0 {
			code = 137
		}
		r.exitLocked(c, code, r.clock.Now())
	}
	return nil
}

// RemoveContainer kills the container if it runs (exit 137, EventExit) and
// marks it removed. Removing an unknown or removed container is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("RemoveContainer", "remove "+id); err != nil {
		return err
	}
	c, ok := r.containers[id]
	if !ok || c.Removed {
		return nil
	}
	if c.State == runtime.StateRunning {
		r.exitLocked(c, 137, r.clock.Now())
	}
	c.Removed = true
	return nil
}

// ContainerStatus returns the status of a container that was not removed.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("ContainerStatus", ""); err != nil {
		return runtime.ContainerStatus{}, err
	}
	c, ok := r.containers[id]
	if !ok || c.Removed {
		return runtime.ContainerStatus{}, notFound("container", id)
	}
	return copyContainer(c).ContainerStatus, nil
}

// ListContainers returns the containers not removed that carry LabelPodUID,
// in creation order.
func (r *Runtime) ListContainers(ctx context.Context) ([]runtime.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("ListContainers", ""); err != nil {
		return nil, err
	}
	var out []runtime.ContainerStatus
	for _, id := range r.order {
		c := r.containers[id]
		if _, ok := c.Labels[runtime.LabelPodUID]; ok && !c.Removed {
			out = append(out, copyContainer(c).ContainerStatus)
		}
	}
	return out, nil
}

// execTargetLocked is why container id cannot be exec'd into (nil: it
// can). The caller holds r.mu.
func (r *Runtime) execTargetLocked(id string) error {
	c, ok := r.containers[id]
	switch {
	case !ok || c.Removed:
		return notFound("container", id)
	case c.State != runtime.StateRunning:
		return fmt.Errorf("exec in container %q: it is %s", id, c.State)
	}
	return nil
}

// PrepareExec checks that the container runs; the fake has no exec path
// to get ready.
func (r *Runtime) PrepareExec(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.execTargetLocked(id)
}

// Exec runs the OnExec handler for a running container (without locks held)
// and truncates its output to maxOutput bytes (0 = no limit).
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration, maxOutput int) (runtime.ExecResult, error) {
	r.mu.Lock()
	err := r.begin("Exec", "exec "+id+" "+strings.Join(cmd, " "))
	fn := r.execFn
	if err == nil {
		err = r.execTargetLocked(id)
	}
	r.mu.Unlock()
	if err != nil {
		return runtime.ExecResult{}, err
	}
	if fn == nil {
		return runtime.ExecResult{}, nil
	}
	res, err := fn(id, append([]string(nil), cmd...))
	if maxOutput > 0 && len(res.Output) > maxOutput {
		res.Output = res.Output[:maxOutput]
	}
	return res, err
}

// Healthy fails while the runtime is unavailable.
func (r *Runtime) Healthy(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.begin("Healthy", "")
}

// Version returns "fake://1.0".
func (r *Runtime) Version(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.begin("Version", ""); err != nil {
		return "", err
	}
	return "fake://1.0", nil
}

// Close makes every later call fail. Event channels stay open until their
// contexts end.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}
