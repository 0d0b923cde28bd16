package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/runtime"
)

// podWorker is the one goroutine that drives one pod. It owns the pod's
// containers: only it creates, starts, stops and removes them.
type podWorker struct {
	a    *Agent
	uid  types.UID
	wake chan struct{}
	// done is closed when the pod has been removed after deletion.
	done chan struct{}
	// after, if set, is the done channel of an older pod with the same
	// name that is still terminating: this pod starts only after it.
	after <-chan struct{}
}

// startWorker launches the worker of a pod; the caller holds a.mu.
func (a *Agent) startWorkerLocked(uid types.UID, after <-chan struct{}) *podWorker {
	w := &podWorker{a: a, uid: uid, wake: make(chan struct{}, 1), done: make(chan struct{}), after: after}
	a.workers[uid] = w
	a.workerWG.Add(1)
	go func() {
		defer a.workerWG.Done()
		w.run(a.runCtx)
	}()
	return w
}

// poke asks the worker to sync soon; it never blocks.
func (w *podWorker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *podWorker) run(ctx context.Context) {
	if w.after != nil {
		select {
		case <-w.after:
		case <-ctx.Done():
			return
		}
	}
	timer := w.a.clock.NewTimer(0)
	defer timer.Stop()
	for {
		wakeAt, removed := w.sync(ctx)
		if removed {
			close(w.done)
			return
		}
		d := w.a.opts.ResyncPeriod
		if !wakeAt.IsZero() {
			if until := wakeAt.Sub(w.a.clock.Now()); until < d {
				d = until
			}
		}
		resetTimer(timer, d)
		select {
		case <-ctx.Done():
			return // the agent shuts down: containers keep running
		case <-w.wake:
		case <-timer.C():
		}
	}
}

// sync runs one step: compute the actions, execute them, publish the status.
// It returns when the next back-off ends, and whether the pod is gone.
func (w *podWorker) sync(ctx context.Context) (time.Time, bool) {
	a := w.a
	a.mu.Lock()
	rec := a.pods[w.uid]
	if rec == nil {
		a.mu.Unlock()
		return time.Time{}, true
	}
	if rec.Deleting {
		a.mu.Unlock()
		w.terminate(ctx)
		return time.Time{}, true
	}
	if !a.runtimeUp {
		a.mu.Unlock()
		a.publish(w.uid)
		return time.Time{}, false
	}
	now := a.clock.Now()
	acts := computePodActions(rec, now)
	for name, wt := range acts.Waiting {
		wt := wt
		rec.Containers[name].Waiting = &wt
	}
	if acts.Terminal != "" && rec.Terminal == "" {
		rec.Terminal = acts.Terminal
		a.log.Info("pod finished", "pod", podFullName(rec.Pod), "phase", acts.Terminal)
	}
	pod := rec.Pod
	killGrace := gracePeriod(pod, rec.Grace)
	a.mu.Unlock()

	wakeAt := acts.WakeAt
	if acts.CreateSandbox {
		if err := w.createSandbox(ctx, pod); err != nil {
			a.events.warn(pod, "FailedCreatePodSandBox", fmt.Sprintf("Failed to create pod sandbox: %v", err))
			a.publish(w.uid)
			return now.Add(2 * time.Second), false
		}
	}
	if len(acts.Kill) > 0 {
		w.stopContainers(ctx, pod, acts.Kill, killGrace)
	}
	progressed := len(acts.Kill) > 0 || (acts.CreateSandbox && len(acts.Start) == 0)
	for _, name := range acts.Start {
		if w.startContainer(ctx, pod, name) {
			progressed = true
		} else if t := now.Add(time.Second); wakeAt.IsZero() || t.Before(wakeAt) {
			// Show the failure, then its back-off, as kubelet's next sync would.
			wakeAt = t
		}
	}
	if progressed {
		w.poke() // look again at once: the next init container, a finished pod, ...
	}
	a.checkpoint(w.uid)
	a.publish(w.uid)
	return wakeAt, false
}

// gracePeriod is the pod's termination grace period, or override if set.
func gracePeriod(pod *v1.Pod, override *int64) time.Duration {
	if override != nil {
		return time.Duration(*override) * time.Second
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// stopContainers stops the running instances of the named containers in
// parallel, each with the grace period.
func (w *podWorker) stopContainers(ctx context.Context, pod *v1.Pod, names []string, grace time.Duration) {
	a := w.a
	var wg sync.WaitGroup
	for _, name := range names {
		a.mu.Lock()
		var id string
		if rec := a.pods[w.uid]; rec != nil {
			if c := rec.Containers[name]; c != nil && c.Current.running() {
				id = c.Current.ID
			}
		}
		a.mu.Unlock()
		if id == "" {
			continue
		}
		a.events.normal(pod, "Killing", fmt.Sprintf("Stopping container %s", name))
		wg.Add(1)
		go func(name, id string) {
			defer wg.Done()
			if err := a.rt.StopContainer(ctx, id, 0, grace); err != nil {
				a.log.Warn("stop container", "pod", podFullName(pod), "container", name, "err", err)
			}
		}(name, id)
	}
	wg.Wait()
}

// terminate stops and removes everything of a deleted pod, then forgets it.
func (w *podWorker) terminate(ctx context.Context) {
	a := w.a
	a.mu.Lock()
	rec := a.pods[w.uid]
	pod := rec.Pod
	grace := gracePeriod(pod, rec.Grace)
	var names []string
	for name := range rec.Containers {
		names = append(names, name)
	}
	a.mu.Unlock()

	if a.prober != nil {
		a.prober.RemovePod(string(pod.UID))
	}
	w.stopContainers(ctx, pod, names, grace)

	a.mu.Lock()
	insts := rec.instances()
	sb := rec.Sandbox
	a.mu.Unlock()
	for _, in := range insts {
		if err := a.rt.RemoveContainer(ctx, in.ID); err != nil {
			a.log.Warn("remove container", "pod", podFullName(pod), "id", in.ID, "err", err)
		}
	}
	if sb == nil {
		sb = &runtime.Sandbox{PodUID: string(pod.UID), CgroupParent: a.podCgroupParent(pod)}
	}
	if err := a.rt.RemoveSandbox(ctx, *sb); err != nil {
		a.log.Warn("remove sandbox", "pod", podFullName(pod), "err", err)
	}
	if err := a.removeVolumes(pod); err != nil {
		a.log.Warn("remove volumes", "pod", podFullName(pod), "err", err)
	}
	a.removePodLogs(pod)
	a.forget(w.uid)
	// RemoveSandbox removed the pod's cgroup in every hierarchy; the QoS
	// cgroups now leave the pod out.
	a.updateQoSCgroups()
	a.log.Info("pod removed", "pod", podFullName(pod))
}

// createSandbox creates the pod's namespaces, cgroup parent and volumes.
func (w *podWorker) createSandbox(ctx context.Context, pod *v1.Pod) error {
	a := w.a
	if err := a.setupVolumes(pod); err != nil {
		return err
	}
	parent, err := a.ensurePodCgroup(pod)
	if err != nil {
		return err
	}
	sb, err := a.rt.CreateSandbox(ctx, runtime.SandboxConfig{
		PodUID:       string(pod.UID),
		Namespace:    pod.Namespace,
		Name:         pod.Name,
		HostNetwork:  pod.Spec.HostNetwork,
		HostIPC:      pod.Spec.HostIPC,
		CgroupParent: parent,
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if rec := a.pods[w.uid]; rec != nil {
		rec.Sandbox = &sb
		if rec.StartTime.IsZero() {
			rec.StartTime = a.clock.Now()
		}
	}
	return nil
}

// resetTimer re-arms timer to fire after d (at once if d <= 0), draining
// a pending tick first.
func resetTimer(timer clock.Timer, d time.Duration) {
	if !timer.Stop() {
		select {
		case <-timer.C():
		default:
		}
	}
	if d < 0 {
		d = 0
	}
	timer.Reset(d)
}
