package agent

import (
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/runtime"
)

// watchRuntimeEvents hands the runtime's exit events to the pods' workers.
func (a *Agent) watchRuntimeEvents(ctx context.Context) {
	for ev := range a.rt.Events(ctx) {
		// An OOM event alone proves nothing about this container (on v1 it
		// fires for every cgroup under the one out of memory): the kill is
		// decided at exit from the container cgroup's own oom_kill counter.
		if ev.Type == runtime.EventResync {
			// Exits may have been missed while the stream was down.
			a.mu.Lock()
			for _, w := range a.workers {
				w.requestReconcile()
			}
			a.mu.Unlock()
			continue
		}
		if ev.Type != runtime.EventExit {
			continue
		}
		obs := exitObservation{ID: ev.ContainerID, Code: ev.ExitCode, At: ev.At}
		var uid types.UID
		if st, err := a.rt.ContainerStatus(ctx, ev.ContainerID); err == nil {
			obs.OOMKilled = st.OOMKilled
			uid = types.UID(st.Labels[runtime.LabelPodUID])
		}
		if w := a.workerOfContainer(uid, ev.ContainerID); w != nil {
			w.requestExit(obs)
		}
	}
}

// workerOfContainer finds the worker of a pod by UID, or else by one of
// its runtime container IDs.
func (a *Agent) workerOfContainer(uid types.UID, id string) *podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w := a.workers[uid]; w != nil {
		return w
	}
	for _, w := range a.workers {
		if slices.Contains(w.snap.Load().ids, id) {
			return w
		}
	}
	return nil
}

// isRuntimeUp tells whether the runtime answered at the last health check.
func (a *Agent) isRuntimeUp() bool { return a.runtimeUp.Load() }

// healthFailures is how many health checks in a row must fail before the
// runtime counts as away.
const healthFailures = 3

// watchRuntimeHealth notices the runtime going away and coming back: while
// it is away pods show phase Unknown; when it is back, every worker
// re-reads its instances from the runtime, and containers of pods nobody
// knows are removed.
func (a *Agent) watchRuntimeHealth(ctx context.Context) {
	t := a.clock.NewTicker(a.opts.HealthPeriod)
	defer t.Stop()
	var failed, prevFailed int
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		up := a.rt.Healthy(hctx) == nil
		cancel()
		// One slow answer on a busy host is not the runtime being away.
		if failed = 0; !up {
			failed = prevFailed + 1
		}
		prevFailed = failed
		if !up && failed < healthFailures {
			continue
		}
		if a.runtimeUp.Swap(up) == up {
			continue
		}
		if up {
			a.log.Info("container runtime is back")
			// Only containers of pods nobody knows: a worker may be making
			// one right now (a bare writable layer has no pod label yet).
			a.removeOrphans(ctx, func(c runtime.ContainerStatus) bool {
				uid := c.Labels[runtime.LabelPodUID]
				return uid == "" || a.worker(types.UID(uid)) != nil
			})
		} else {
			a.log.Error("container runtime unreachable: pods show phase Unknown")
		}
		a.mu.Lock()
		for _, w := range a.workers {
			if up {
				w.requestReconcile()
			} else {
				w.poke()
			}
		}
		a.mu.Unlock()
	}
}
