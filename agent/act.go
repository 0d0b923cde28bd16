package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/runtime"
)

// The pod worker's runtime actions. Each is called from the worker's
// goroutine only and changes the worker's record.

// stopContainers stops the running instances of the named containers in
// parallel, each with the grace period, then records their exits.
func (w *podWorker) stopContainers(ctx context.Context, names []string, grace time.Duration) {
	a, pod := w.a, w.rec.Pod
	var ids []string
	var wg sync.WaitGroup
	for _, name := range names {
		c := w.rec.Containers[name]
		if c == nil || !c.Current.running() {
			continue
		}
		id := c.Current.ID
		ids = append(ids, id)
		a.events.containerNormal(pod, name, "Killing", fmt.Sprintf("Stopping container %s", name))
		wg.Add(1)
		go func(name, id string) {
			defer wg.Done()
			if err := a.rt.StopContainer(ctx, id, 0, grace); err != nil {
				a.log.Warn("stop container", "pod", podFullName(pod), "container", name, "err", err)
			}
		}(name, id)
	}
	wg.Wait()
	for _, id := range ids {
		w.observe(ctx, id)
	}
}

// killForProbe stops the instance a failed probe named, if it still is the
// running one; the restart policy then decides.
func (w *podWorker) killForProbe(ctx context.Context, k killRequest) {
	c := w.rec.Containers[k.Name]
	if c == nil || c.Current == nil || c.Current.ID != k.ContainerID || !c.Current.running() || w.rec.Deleting {
		return
	}
	w.a.events.containerNormal(w.rec.Pod, k.Name, "Killing", k.Message)
	grace := k.Grace
	if grace < 2*time.Second {
		grace = 2 * time.Second // kubelet's floor for probe kills
	}
	if err := w.a.rt.StopContainer(ctx, k.ContainerID, 0, grace); err != nil {
		w.a.log.Warn("stop container for failed probe", "pod", podFullName(w.rec.Pod), "container", k.Name, "err", err)
	}
	w.observe(ctx, k.ContainerID)
}

// replaceContainer stops a running container whose image in the spec
// changed, as kubelet does ("definition changed, will be restarted"); the
// next sync starts it with the new image.
func (w *podWorker) replaceContainer(ctx context.Context, name string) {
	c := w.rec.Containers[name]
	if c == nil || !c.Current.running() {
		return
	}
	id := c.Current.ID
	c.Current.Replaced = true
	w.checkpoint() // a restarted agent restarts it too
	w.a.events.containerNormal(w.rec.Pod, name, "Killing", fmt.Sprintf("Container %s definition changed, will be restarted", name))
	if err := w.a.rt.StopContainer(ctx, id, 0, gracePeriod(w.rec.Pod, nil)); err != nil {
		w.a.log.Warn("stop container for a changed spec", "pod", podFullName(w.rec.Pod), "container", name, "err", err)
	}
	w.observe(ctx, id)
}

// observe reads one instance's state from the runtime and folds it into
// the record. It reports false when the runtime could not answer.
func (w *podWorker) observe(ctx context.Context, id string) bool {
	_, in := w.rec.findInstance(id)
	if in == nil || in.Exited || in.Removed {
		return true
	}
	st, err := w.a.rt.ContainerStatus(ctx, id)
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		if in.neverStarted() {
			in.Removed = true // it never ran: it is made again
			return true
		}
		w.recordExit(id, 137, w.a.clock.Now(), false, "ContainerStatusUnknown",
			"The container could not be located when the pod was terminated")
	case err != nil:
		w.a.log.Warn("container status", "pod", podFullName(w.rec.Pod), "id", id, "err", err)
		return false
	case st.State == runtime.StateExited:
		if in.StartedAt.IsZero() {
			in.StartedAt = st.StartedAt
		}
		w.recordExit(id, st.ExitCode, st.FinishedAt, st.OOMKilled, "", "")
	case st.State == runtime.StateRunning:
		if in.StartedAt.IsZero() {
			in.StartedAt = st.StartedAt
			if in.StartedAt.IsZero() {
				in.StartedAt = w.a.clock.Now()
			}
		}
	case st.State == runtime.StateCreated:
		// Created, never started (the agent died in between): the instance
		// is removed and made again; it never counts as a run.
		in.StartedAt = time.Time{}
	default:
		if !in.neverStarted() {
			w.recordExit(id, 137, w.a.clock.Now(), false, "ContainerStatusUnknown",
				"The container could not be located when the pod was terminated")
		}
	}
	return true
}

// reconcile brings every instance not known to have exited up to date with
// the runtime: exits that happened while the agent or the runtime was away,
// containers created but never started.
func (w *podWorker) reconcile(ctx context.Context) {
	ok := true
	for _, in := range w.rec.instances() {
		if !in.Exited {
			ok = w.observe(ctx, in.ID) && ok
		}
	}
	w.needReconcile = !ok
}

// removeContainer deletes one runtime container (task, shim, log process,
// snapshot). On failure the ID is kept and removal retried later.
func (w *podWorker) removeContainer(ctx context.Context, id string) bool {
	if err := w.a.rt.RemoveContainer(ctx, id); err != nil {
		w.a.log.Warn("remove container", "pod", podFullName(w.rec.Pod), "id", id, "err", err)
		return false
	}
	if _, in := w.rec.findInstance(id); in != nil {
		in.Removed = true
	}
	w.rec.Stale = slices.DeleteFunc(w.rec.Stale, func(s string) bool { return s == id })
	w.unregisterProbes(id)
	return true
}

// forgetLater keeps a runtime container ID whose removal must be retried.
func (w *podWorker) forgetLater(id string) {
	if !slices.Contains(w.rec.Stale, id) {
		w.rec.Stale = append(w.rec.Stale, id)
	}
}

// releaseSandbox removes the pod's namespaces, cgroup and volumes.
func (w *podWorker) releaseSandbox(ctx context.Context) bool {
	a, pod := w.a, w.rec.Pod
	if a.prober != nil {
		a.prober.RemovePod(string(pod.UID))
	}
	w.probing = map[string]bool{}
	sb := w.rec.Sandbox
	if sb == nil {
		sb = &runtime.Sandbox{PodUID: string(pod.UID), CgroupParent: a.podCgroupParent(pod)}
	}
	if err := a.rt.RemoveSandbox(ctx, *sb); err != nil {
		a.log.Warn("remove sandbox", "pod", podFullName(pod), "err", err)
		return false
	}
	if err := a.removeVolumes(pod); err != nil {
		a.log.Warn("remove volumes", "pod", podFullName(pod), "err", err)
		return false
	}
	w.rec.Sandbox = nil
	return true
}

// release gives back what a finished pod holds; its records and logs stay,
// so get, describe and logs keep working until it is deleted.
func (w *podWorker) release(ctx context.Context) bool {
	if !w.releaseSandbox(ctx) {
		return false
	}
	w.rec.Released = true
	w.a.updateQoSCgroups()
	w.a.log.Info("finished pod released its resources", "pod", podFullName(w.rec.Pod))
	return true
}

// finish removes everything of a deleted pod, then forgets it.
func (w *podWorker) finish(ctx context.Context) bool {
	a, pod := w.a, w.rec.Pod
	if !w.releaseSandbox(ctx) {
		return false
	}
	// The final status: nothing runs or is held any more, so a deleted pod
	// shows its terminal phase, as the kubelet writes it before the API
	// server's object is removed.
	w.rec.Released = true
	w.tellStatus(w.render())
	a.removePodLogs(pod)
	a.forget(w.uid)
	// RemoveSandbox removed the pod's cgroup in every hierarchy; the QoS
	// cgroups now leave the pod out.
	a.updateQoSCgroups()
	a.log.Info("pod removed", "pod", podFullName(pod))
	return true
}

// createSandbox creates the pod's volumes, cgroup and namespaces.
func (w *podWorker) createSandbox(ctx context.Context) error {
	a, pod := w.a, w.rec.Pod
	if err := a.setupVolumes(ctx, pod); err != nil {
		return err
	}
	parent, err := a.ensurePodCgroup(pod)
	if err != nil {
		return err
	}
	sb, err := a.rt.CreateSandbox(ctx, runtimeSandboxConfig(pod, parent))
	if err != nil {
		return err
	}
	w.rec.Sandbox = &sb
	a.opts.Metrics.PodSandboxCreated()
	if w.rec.StartTime.IsZero() {
		w.rec.StartTime = a.clock.Now()
	}
	return nil
}

func runtimeSandboxConfig(pod *v1.Pod, parent string) runtime.SandboxConfig {
	return runtime.SandboxConfig{
		PodUID:       string(pod.UID),
		Namespace:    pod.Namespace,
		Name:         pod.Name,
		HostNetwork:  pod.Spec.HostNetwork,
		HostIPC:      pod.Spec.HostIPC,
		CgroupParent: parent,
	}
}

// registerProbes makes sure every running instance is probed (after an
// agent restart too).
func (w *podWorker) registerProbes() {
	for name, c := range w.rec.Containers {
		if c.Current.running() && !w.probing[c.Current.ID] {
			w.probing[c.Current.ID] = true
			w.a.watchProbes(w.rec, name, c.Current)
		}
	}
}

// unregisterProbes stops the probes of an instance.
func (w *podWorker) unregisterProbes(id string) {
	if w.probing[id] && w.a.prober != nil {
		w.a.prober.RemoveContainer(id)
	}
	delete(w.probing, id)
}
