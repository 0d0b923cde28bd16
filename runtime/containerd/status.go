package containerd

import (
	"context"
	"fmt"
	"strconv"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/miniagent/miniagent/runtime"
)

// ContainerStatus returns the status of one container instance.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	ctx = r.ns(ctx)
	c, err := r.client.ContainerService().Get(ctx, id)
	if err != nil {
		return runtime.ContainerStatus{}, classify(fmt.Errorf("status of container %q: %w", id, err))
	}
	var proc *task.Process
	resp, err := r.client.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	if err != nil {
		if err = errgrpc.ToNative(err); !errdefs.IsNotFound(err) {
			return runtime.ContainerStatus{}, classify(fmt.Errorf("status of container %q: task: %w", id, err))
		}
	} else {
		proc = resp.Process
	}
	return deriveStatus(c, proc, cgroupOOMKilled), nil
}

// ListContainers returns every container carrying runtime.LabelPodUID.
func (r *Runtime) ListContainers(ctx context.Context) ([]runtime.ContainerStatus, error) {
	ctx = r.ns(ctx)
	cs, err := r.client.ContainerService().List(ctx, fmt.Sprintf("labels.%q", runtime.LabelPodUID))
	if err != nil {
		return nil, classify(fmt.Errorf("list containers: %w", err))
	}
	resp, err := r.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, classify(fmt.Errorf("list tasks: %w", errgrpc.ToNative(err)))
	}
	procs := make(map[string]*task.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		// Tasks only (no exec processes); containerd 1.6 leaves
		// ContainerID empty here and puts the container ID in ID.
		key := p.ContainerID
		if key == "" {
			key = p.ID
		}
		procs[key] = p
	}
	out := make([]runtime.ContainerStatus, 0, len(cs))
	have := make(map[string]bool, len(cs))
	for _, c := range cs {
		have[c.ID] = true
		out = append(out, deriveStatus(c, procs[c.ID], cgroupOOMKilled))
	}
	// A writable layer whose container was never recorded (the agent died
	// inside CreateContainer) is listed as a container without labels, so
	// it can be removed like one.
	err = r.client.SnapshotService(r.opts.Snapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive && isContainerID(info.Name) && !have[info.Name] {
			out = append(out, runtime.ContainerStatus{ID: info.Name, State: runtime.StateUnknown, CreatedAt: info.Created})
		}
		return nil
	})
	if err != nil {
		return nil, classify(fmt.Errorf("list snapshots: %w", err))
	}
	// Likewise a log spool whose container and snapshot are gone (the agent
	// died inside RemoveContainer).
	spools, err := r.spoolIDs()
	if err != nil {
		return nil, err
	}
	for _, id := range spools {
		if !have[id] && !listed(out, id) {
			out = append(out, runtime.ContainerStatus{ID: id, State: runtime.StateUnknown})
		}
	}
	return out, nil
}

func listed(list []runtime.ContainerStatus, id string) bool {
	for _, c := range list {
		if c.ID == id {
			return true
		}
	}
	return false
}

// isContainerID tells whether s has the form of the IDs the agent gives
// containers (and their snapshots): 64 lowercase hex digits.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// deriveStatus computes a container's status from its metadata and labels
// and its task (nil when there is none):
//
//	no task, no start recorded      → created
//	task created, not started       → created
//	task running / paused           → running (pid)
//	task stopped                    → exited (code and time from the task)
//	no task, exit recorded          → exited (code and time from labels)
//	no task, started, nothing known → unknown
//
// oomKilled reads the cgroup OOM counter; it is consulted only for a
// stopped task without a recorded OOM.
func deriveStatus(c containers.Container, proc *task.Process, oomKilled func(cgroupsPath string) bool) runtime.ContainerStatus {
	l := c.Labels
	st := runtime.ContainerStatus{
		ID:        c.ID,
		Labels:    l,
		Image:     c.Image,
		CreatedAt: c.CreatedAt,
		StartedAt: labelTime(l, LabelStartedAt),
		OOMKilled: l[LabelOOMKilled] == "true",
	}
	if proc == nil {
		code, recorded := l[LabelExitCode]
		switch {
		case recorded:
			st.State = runtime.StateExited
			n, _ := strconv.ParseInt(code, 10, 32)
			st.ExitCode = int32(n)
			st.FinishedAt = labelTime(l, LabelFinishedAt)
		case st.StartedAt.IsZero():
			st.State = runtime.StateCreated
		default:
			st.State = runtime.StateUnknown
		}
		return st
	}
	switch proc.Status {
	case task.Status_CREATED:
		st.State = runtime.StateCreated
	case task.Status_RUNNING, task.Status_PAUSED, task.Status_PAUSING:
		st.State = runtime.StateRunning
		st.Pid = proc.Pid
	case task.Status_STOPPED:
		st.State = runtime.StateExited
		st.ExitCode = int32(proc.ExitStatus)
		if proc.ExitedAt != nil {
			st.FinishedAt = proc.ExitedAt.AsTime()
		}
		if !st.OOMKilled && oomKilled != nil {
			st.OOMKilled = oomKilled(l[LabelCgroupsPath])
		}
	default:
		st.State = runtime.StateUnknown
	}
	return st
}

func labelTime(l map[string]string, key string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, l[key])
	if err != nil {
		return time.Time{}
	}
	return t
}
