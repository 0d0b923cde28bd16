package agent

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// podWorker is the one goroutine that drives one pod, as kubelet's pod
// workers do. It owns the pod's record: only it changes the pod's state and
// only it calls the runtime for the pod. Everything else (the API, sources,
// eviction, the taint manager, probes, the runtime's event stream) sends it
// requests (inbox.go) and reads the snapshot it publishes.
type podWorker struct {
	a      *Agent
	uid    types.UID
	source string
	wake   chan struct{}
	// done is closed when the pod has been removed after deletion.
	done chan struct{}
	// after, if set, is the done channel of an older pod with the same
	// name that is still terminating: this pod starts only after it.
	after <-chan struct{}

	mu sync.Mutex // guards in
	in inbox

	// desired is the pod as configured (deletion included); a.mu guards it.
	desired *v1.Pod

	// Owned by the worker's goroutine once it runs.
	rec           *podRecord
	needReconcile bool            // the runtime state of the instances is to be read
	probing       map[string]bool // instance IDs registered with the prober
	synced        bool            // a sync ran (metrics: create, then update or sync)
	// lastCheckpoint is the SHA-256 of the record last written: keeping
	// the bytes themselves cost ~20 KiB a pod.
	lastCheckpoint [sha256.Size]byte

	snap atomic.Pointer[podSnapshot]
}

func newPodWorker(a *Agent, rec *podRecord, after <-chan struct{}, reconcile bool) *podWorker {
	w := &podWorker{
		a: a, uid: rec.Pod.UID, source: rec.Source, rec: rec,
		wake: make(chan struct{}, 1), done: make(chan struct{}), after: after,
		needReconcile: reconcile, probing: map[string]bool{},
	}
	w.snap.Store(w.render())
	return w
}

// startWorkerLocked launches the worker of a pod; the caller holds a.mu.
func (a *Agent) startWorkerLocked(w *podWorker) {
	a.workers[w.uid] = w
	a.workerWG.Add(1)
	go func() {
		defer a.workerWG.Done()
		w.run(a.runCtx)
	}()
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
		d := resyncDelay(w.a.opts.ResyncPeriod, rand.Float64())
		if !wakeAt.IsZero() {
			if until := wakeAt.Sub(w.a.clock.Now()); until < d {
				d = until
			}
		}
		if d <= 0 && ctx.Err() == nil {
			// Already due (the clock moved on during the sync): look again
			// now rather than through a zero timer, which a fake clock only
			// fires at its next step.
			continue
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

// resyncJitter is how much longer than the resync period a worker may
// wait, as a share of the period (kubelet's pod workers use 0.5): pods
// applied together do not all re-sync in the same instant ever after.
const resyncJitter = 0.5

// resyncDelay is how long a worker with nothing due waits before it looks
// again: period plus r (in [0, 1)) times resyncJitter of it.
func resyncDelay(period time.Duration, r float64) time.Duration {
	return period + time.Duration(r*resyncJitter*float64(period))
}

// retryDelay is how soon a failed runtime call (remove, sandbox) is retried.
const retryDelay = 2 * time.Second

// sync runs one step: take the requests, compute the actions, execute them,
// checkpoint and publish. It returns when to look again, and whether the
// pod is gone.
func (w *podWorker) sync(ctx context.Context) (time.Time, bool) {
	a := w.a
	rec := w.rec
	in := w.take()
	defer w.observeSync(w.syncOperation(in), a.clock.Now())
	w.applyRequests(in)
	if in.reconcile {
		w.needReconcile = true
	}
	if !a.isRuntimeUp() {
		w.checkpoint()
		w.publish()
		return time.Time{}, false
	}
	if w.needReconcile {
		w.reconcile(ctx)
	}
	for _, k := range in.kills {
		w.killForProbe(ctx, k)
	}
	w.registerProbes()
	w.refreshVolumes(ctx)

	now := a.clock.Now()
	acts := computePodActions(rec, now)
	for name, wt := range acts.Waiting {
		wt := wt
		rec.Containers[name].Waiting = &wt
		w.backOffEvent(name, wt)
	}
	if acts.Terminal != "" && rec.Terminal == "" {
		rec.Terminal = acts.Terminal
		if acts.TerminalReason != "" {
			rec.Reason, rec.Message = acts.TerminalReason, acts.TerminalMessage
			a.events.normal(rec.Pod, acts.TerminalReason, acts.TerminalMessage)
		}
		a.log.Info("pod finished", "pod", podFullName(rec.Pod), "phase", acts.Terminal, "reason", rec.Reason)
	}
	wakeAt := acts.WakeAt
	retry := func() {
		if t := now.Add(retryDelay); wakeAt.IsZero() || t.Before(wakeAt) {
			wakeAt = t
		}
	}
	progressed := false
	for _, name := range acts.Replace {
		w.replaceContainer(ctx, name)
		progressed = true
	}
	if len(acts.Kill) > 0 {
		w.stopContainers(ctx, acts.Kill, gracePeriod(rec.Pod, w.killOverride()))
		progressed = true
	}
	for _, id := range acts.Remove {
		if w.removeContainer(ctx, id) {
			progressed = true
		} else {
			retry()
		}
	}
	switch {
	case acts.Finish:
		if w.finish(ctx) {
			return time.Time{}, true
		}
		retry()
	case acts.Release:
		if !w.release(ctx) {
			retry()
		}
	}
	if acts.CreateSandbox {
		if err := w.createSandbox(ctx); err != nil {
			var me *mountError
			if errors.As(err, &me) {
				a.events.warn(rec.Pod, ReasonFailedMount, me.Error())
				a.log.Info("volume not set up", "pod", podFullName(rec.Pod), "err", me)
			} else {
				a.events.warn(rec.Pod, "FailedCreatePodSandBox", "Failed to create pod sandbox: "+err.Error())
			}
			w.checkpoint()
			w.publish()
			return now.Add(retryDelay), false
		}
		progressed = progressed || len(acts.Start) == 0
	}
	for _, name := range acts.Start {
		if w.startContainer(ctx, name) {
			progressed = true
		} else if t := now.Add(time.Second); wakeAt.IsZero() || t.Before(wakeAt) {
			// Show the failure, then its back-off, as kubelet's next sync would.
			wakeAt = t
		}
	}
	if progressed {
		w.poke() // look again at once: the next init container, a finished pod, ...
	}
	w.checkpoint()
	w.publish()
	return wakeAt, false
}

// refreshVolumes hands a running pod's newest spec to its API volumes'
// refresher, and sets them up again after an agent restart (the sandbox
// exists, setupVolumes did not run in this process).
func (w *podWorker) refreshVolumes(ctx context.Context) {
	rec := w.rec
	if rec.Sandbox == nil || rec.Deleting || rec.Rejected || rec.Terminal != "" {
		return
	}
	if err := w.a.setupAPIVolumes(ctx, rec.Pod); err != nil {
		w.a.events.warn(rec.Pod, ReasonFailedMount, err.Error())
	}
}

// backOffEvent records kubelet's BackOff warning for a container held
// back by its crash-loop or image-pull back-off.
func (w *podWorker) backOffEvent(name string, wt waiting) {
	pod := w.rec.Pod
	switch wt.Reason {
	case ReasonCrashLoopBackOff:
		w.a.events.containerWarn(pod, name, "BackOff", fmt.Sprintf("Back-off restarting failed container %s in pod %s", name, podFullName(pod)))
	case ReasonImagePullBackOff:
		image := ""
		if c, _ := findContainer(pod, name); c != nil {
			image = c.Image
		}
		w.a.events.containerNormal(pod, name, "BackOff", pullBackOffMessage(image))
		w.a.events.containerWarn(pod, name, "Failed", "Error: "+ReasonImagePullBackOff)
	}
}

// killOverride is the grace period a stop of the pod's containers uses
// instead of the pod's: the deletion's, or the eviction's.
func (w *podWorker) killOverride() *int64 {
	if w.rec.Deleting {
		return w.rec.Grace
	}
	return w.rec.KillGrace
}

// applyRequests folds deletion, eviction and observed exits into the record.
func (w *podWorker) applyRequests(in inbox) {
	a, rec := w.a, w.rec
	if in.deleting {
		if !rec.Deleting {
			rec.Deleting = true
			ts := in.deletedAt
			rec.Pod.DeletionTimestamp = &ts
			secs := int64(gracePeriod(rec.Pod, in.grace).Seconds())
			rec.Pod.DeletionGracePeriodSeconds = &secs
			rec.Grace = &secs
		} else if in.grace != nil && rec.Grace != nil && *in.grace < *rec.Grace {
			g := *in.grace
			rec.Grace = &g
			rec.Pod.DeletionGracePeriodSeconds = &g
		}
	}
	if e := in.evict; e != nil && rec.Terminal == "" && !rec.Rejected && !rec.Deleting {
		rec.Terminal = v1.PodFailed
		rec.Reason, rec.Message = e.Reason, e.Message
		rec.KillGrace = e.Grace
		if e.Condition != nil {
			cond := *e.Condition
			cond.LastTransitionTime = mtime(a.clock.Now())
			rec.Disruption = &cond
		}
		a.log.Info("pod evicted", "pod", podFullName(rec.Pod), "reason", e.Reason, "message", e.Message)
	}
	for _, ex := range in.exits {
		w.recordExit(ex.ID, ex.Code, ex.At, ex.OOMKilled, "", "")
	}
	if u := in.update; u != nil && !rec.Deleting {
		// An in-place update (metadata, images, deadline, tolerations): the
		// record takes the new pod; computePodActions replaces what runs
		// another image.
		pod := u.DeepCopy()
		pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = rec.Pod.DeletionTimestamp, rec.Pod.DeletionGracePeriodSeconds
		rec.Pod = pod
		a.log.Info("pod updated in place", "pod", podFullName(pod), "generation", pod.Generation)
	}
}

// recordExit marks an instance exited; an exit already known is ignored.
func (w *podWorker) recordExit(id string, code int32, at time.Time, oom bool, reason, msg string) {
	a := w.a
	c, in := w.rec.findInstance(id)
	// An instance removed before it was known to run (a failed start) was
	// never a run: its task's death is no exit of the container.
	if in == nil || in.Exited || (in.Removed && in.StartedAt.IsZero()) {
		return
	}
	if at.IsZero() {
		at = a.clock.Now()
	}
	if at.Before(in.StartedAt) {
		// The start time is taken when Start returned; a process that ended
		// at once can have exited before that (the runtime's exit time).
		// finishedAt never precedes the startedAt a watcher already saw.
		at = in.StartedAt
	}
	in.Exited, in.ExitCode, in.FinishedAt = true, code, at
	in.OOMKilled = in.OOMKilled || oom
	in.Reason, in.Message = reason, msg
	if in.StartedAt.IsZero() {
		in.StartedAt = at
	}
	if in.OOMKilled {
		a.events.containerWarn(w.rec.Pod, c.Name, "OOMKilling", "Memory cgroup out of memory: Killed process in container "+c.Name)
		a.opts.Metrics.ContainerOOMKilled(w.rec.Pod.Namespace, w.rec.Pod.Name, c.Name)
	}
	w.unregisterProbes(id)
}

// checkpoint writes the record when it changed since the last write.
func (w *podWorker) checkpoint() {
	data, err := json.Marshal(w.rec)
	sum := sha256.Sum256(data)
	if err == nil && sum == w.lastCheckpoint {
		return
	}
	if err == nil {
		err = writeFileAtomic(w.a.checkpointPath(w.uid), data)
	}
	if err != nil {
		w.a.log.Error("checkpoint pod", "pod", podFullName(w.rec.Pod), "err", err)
		return
	}
	w.lastCheckpoint = sum
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
