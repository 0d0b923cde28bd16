package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"github.com/miniagent/miniagent/runtime"
)

// StartContainer creates the task with its log IO, starts it, and records
// the start time in a label (and returns it). The exit is reported on
// Events, which also records it in labels (for status after the task is
// gone).
func (r *Runtime) StartContainer(ctx context.Context, id string) (time.Time, error) {
	ctx = r.ns(ctx)
	// The container CreateContainer made holds its record: no round trip
	// to load it again (an agent restarted in between loads it).
	var c client.Container
	if v, ok := r.created.LoadAndDelete(id); ok {
		c = v.(client.Container)
	} else {
		var err error
		if c, err = r.client.LoadContainer(ctx, id); err != nil {
			return time.Time{}, classify(fmt.Errorf("start container %q: %w", id, err))
		}
	}
	info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return time.Time{}, classify(fmt.Errorf("start container %q: %w", id, err))
	}
	labels := info.Labels
	hasStdin := labels[LabelStdin] != ""
	ioc, undoIO, err := r.taskIO(id, labels[LabelLogPath], hasStdin)
	if err != nil {
		return time.Time{}, fmt.Errorf("start container %q: log IO: %w", id, err)
	}
	if hasStdin {
		if err := r.makeStdin(id); err != nil {
			undoIO()
			return time.Time{}, fmt.Errorf("start container %q: %w", id, err)
		}
		ioc = withStdin(ioc, r.stdinPath(id), labels[LabelTTY] == "true")
		undoLogs := undoIO
		undoIO = func() { undoLogs(); r.removeStdin(id) }
	}
	task, err := c.NewTask(ctx, ioc)
	if err != nil {
		undoIO()
		return time.Time{}, startFailure(fmt.Errorf("start container %q: create task: %w", id, err))
	}
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(ctx, client.WithProcessKill); derr == nil {
			undoIO()
		}
		return time.Time{}, startFailure(fmt.Errorf("start container %q: %w", id, err))
	}
	started := time.Now()
	// The task runs: a failure to record its start time (containerd going
	// away just now) does not undo that; the label only helps tell a
	// vanished task from a never-started one.
	_, _ = c.SetLabels(ctx, map[string]string{LabelStartedAt: started.UTC().Format(time.RFC3339Nano)})
	r.running.Store(id, labels[LabelCgroupsPath])
	return started, nil
}

// startFailure classifies a failed task create or start: the OCI runtime
// refusing the container (no such executable, a bad mount or user) is the
// container's failure; anything else (containerd or the shim going away
// under the call) means the runtime is unavailable, and the agent retries.
func startFailure(err error) error {
	err = classify(err)
	if errors.Is(err, runtime.ErrUnavailable) || errors.Is(err, runtime.ErrNotFound) || strings.Contains(err.Error(), "OCI runtime") {
		return err
	}
	return fmt.Errorf("%w: %w", err, runtime.ErrUnavailable)
}

// logIO is the task IO: the log process via containerd's binary log driver,
// or no IO without a log path or log shim.
func (r *Runtime) logIO(logPath string) cio.Creator {
	if logPath == "" || len(r.opts.LogShim) == 0 {
		return cio.NullIO
	}
	return cio.BinaryIO(r.opts.LogShim[0], ShimQuery(r.opts.LogShim, logPath))
}

// ShimQuery is the binary-log URI query for logPath. The runc shim turns
// each query key into an argument followed by its value, so a single key
// keeps the order fixed: LogShim[1] logPath, or logPath "" when LogShim has
// only the program.
func ShimQuery(logShim []string, logPath string) map[string]string {
	if len(logShim) > 1 {
		return map[string]string{logShim[1]: logPath}
	}
	return map[string]string{logPath: ""}
}

// recordExit stores a container's exit in its labels, so that its status
// survives the task's deletion: the exit code and time, and whether its
// memory cgroup counted an OOM kill (read now, while the stopped task
// still holds the cgroup). Best effort: the container may be gone already.
func (r *Runtime) recordExit(ctx context.Context, ev runtime.Event) {
	ctx, cancel := context.WithTimeout(r.ns(ctx), 10*time.Second)
	defer cancel()
	var cgroupsPath string
	if v, ok := r.running.LoadAndDelete(ev.ContainerID); ok {
		cgroupsPath = v.(string)
	} else {
		// Started by an earlier agent: one round trip for the path.
		c, err := r.client.ContainerService().Get(ctx, ev.ContainerID)
		if err != nil {
			return
		}
		cgroupsPath = c.Labels[LabelCgroupsPath]
	}
	l := map[string]string{
		LabelFinishedAt: ev.At.UTC().Format(time.RFC3339Nano),
		LabelExitCode:   strconv.FormatInt(int64(ev.ExitCode), 10),
	}
	if cgroupOOMKilled(cgroupsPath) {
		l[LabelOOMKilled] = "true"
	}
	paths := make([]string, 0, len(l))
	for k := range l {
		paths = append(paths, "labels."+k)
	}
	_, _ = r.client.ContainerService().Update(ctx, containers.Container{ID: ev.ContainerID, Labels: l}, paths...)
}

// StopContainer sends signal (0 = the image's STOPSIGNAL, else SIGTERM),
// waits up to grace, then SIGKILLs and waits for the exit. A container
// without a running task is already stopped.
func (r *Runtime) StopContainer(ctx context.Context, id string, signal syscall.Signal, grace time.Duration) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return classify(fmt.Errorf("stop container %q: %w", id, err))
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return classify(fmt.Errorf("stop container %q: %w", id, err))
	}
	st, err := task.Status(ctx)
	if err != nil {
		return classify(fmt.Errorf("stop container %q: %w", id, err))
	}
	if st.Status == client.Stopped {
		return nil
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exitCh, err := task.Wait(waitCtx)
	if err != nil {
		return classify(fmt.Errorf("stop container %q: %w", id, err))
	}
	if signal == 0 {
		signal, err = client.GetStopSignal(ctx, c, syscall.SIGTERM)
		if err != nil {
			signal = syscall.SIGTERM
		}
	}
	if grace > 0 && signal != syscall.SIGKILL {
		if err := task.Kill(ctx, signal); err != nil && !errdefs.IsNotFound(err) {
			return classify(fmt.Errorf("stop container %q: signal %v: %w", id, signal, err))
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exitCh:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("stop container %q: %w", id, ctx.Err())
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return classify(fmt.Errorf("stop container %q: kill: %w", id, err))
	}
	select {
	case <-exitCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop container %q: waiting for exit after SIGKILL: %w", id, ctx.Err())
	}
}

// RemoveContainer deletes the task (killing it if needed), the container and
// its snapshot. What is already gone is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	r.created.Delete(id)
	r.running.Delete(id)
	// End the exec server first, and forget one an exec started meanwhile.
	r.dropExec(id)
	defer r.dropExec(id)
	defer r.removeStdin(id)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		// A writable layer, or a shim, may outlive a container record.
		err := r.client.SnapshotService(r.opts.Snapshotter).Remove(r.withCurrentLease(ctx), id)
		if err != nil && !errdefs.IsNotFound(err) {
			return classify(fmt.Errorf("remove container %q: snapshot: %w", id, err))
		}
		if err := r.reapShims(ctx, id); err != nil {
			return fmt.Errorf("remove container %q: end orphaned shim: %w", id, err)
		}
		if err := r.finishLogs(id); err != nil {
			return fmt.Errorf("remove container %q: %w", id, err)
		}
		return nil
	}
	if err != nil {
		return classify(fmt.Errorf("remove container %q: %w", id, err))
	}
	task, err := c.Task(ctx, nil)
	switch {
	case err == nil:
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return classify(fmt.Errorf("remove container %q: delete task: %w", id, err))
		}
	case errdefs.IsNotFound(err):
		// No task containerd knows of; a shim may still run for it.
		if err := r.reapShims(ctx, id); err != nil {
			return fmt.Errorf("remove container %q: end orphaned shim: %w", id, err)
		}
	default:
		return classify(fmt.Errorf("remove container %q: %w", id, err))
	}
	// The task is gone, so the shim has written all output: the log is
	// complete before the exit is published.
	if err := r.finishLogs(id); err != nil {
		return fmt.Errorf("remove container %q: %w", id, err)
	}
	if err := c.Delete(r.withCurrentLease(ctx), client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return classify(fmt.Errorf("remove container %q: %w", id, err))
	}
	return nil
}

// cgroupOOMKilled reads the OOM kill counter of a container's memory cgroup
// (v1 memory.oom_control or v2 memory.events). The counter is kept until
// the task is deleted.
func cgroupOOMKilled(cgroupsPath string) bool {
	if cgroupsPath == "" {
		return false
	}
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", cgroupsPath, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", cgroupsPath, "memory.events"),
	} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, ok := counter(string(data), "oom_kill"); ok {
			return n > 0
		}
	}
	return false
}

// counter finds "key N" in a flat-keyed cgroup file.
func counter(data, key string) (uint64, bool) {
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
