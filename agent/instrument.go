package agent

import (
	"time"

	"github.com/miniagent/miniagent/agent/eviction"
	"github.com/miniagent/miniagent/agent/metrics"
	"github.com/miniagent/miniagent/probes"
)

// The agent's side of its metrics (Options.Metrics): the runtime wrapper,
// the prober's observer, the counts the running gauges read at scrape time
// and the operation type of a worker's sync. Events are counted by
// one-line calls where they happen; every metrics method does nothing when
// Options.Metrics is nil.

// instrument wraps the runtime so that every call is counted and timed,
// and gives the metrics the node's counts. New calls it.
func (a *Agent) instrument() {
	m := a.opts.Metrics
	if m == nil {
		return
	}
	a.rt = m.InstrumentRuntime(a.rt, a.clock)
	m.SetCounts(a.runtimeCounts)
}

// observeProbes has the prober's runs counted; call it before the prober
// gets containers.
func (a *Agent) observeProbes(m *probes.Manager) {
	if a.opts.Metrics != nil {
		m.SetObserver(a.opts.Metrics.ObserveProbe)
		m.SetWaitObserver(a.opts.Metrics.ObserveProbeQueueWait)
	}
}

// countEviction counts an eviction the eviction manager made for signal.
func (a *Agent) countEviction(signal eviction.Signal) { a.opts.Metrics.Evicted(string(signal)) }

// runtimeCounts adds up what the pods hold in the runtime, from their
// latest snapshots.
func (a *Agent) runtimeCounts() metrics.Counts {
	a.mu.Lock()
	snaps := a.snapshotsLocked()
	a.mu.Unlock()
	c := metrics.Counts{Containers: map[string]int{}}
	for _, s := range snaps {
		if s.held.sandbox {
			c.RunningPods++
		}
		for state, n := range s.held.containers {
			c.Containers[state] += n
		}
	}
	return c
}

// runtimeHeld is what one pod holds in the runtime: its sandbox, and its
// runtime containers by kubelet's container_state.
type runtimeHeld struct {
	sandbox    bool
	containers map[string]int
}

// heldBy counts what a pod's record says it holds in the runtime. IDs
// whose removal is to be retried are of unknown state.
func heldBy(rec *podRecord) runtimeHeld {
	h := runtimeHeld{sandbox: rec.Sandbox != nil, containers: map[string]int{}}
	for _, in := range rec.instances() {
		switch {
		case in.running():
			h.containers[metrics.StateRunning]++
		case in.Exited:
			h.containers[metrics.StateExited]++
		default:
			h.containers[metrics.StateCreated]++
		}
	}
	if len(rec.Stale) > 0 {
		h.containers[metrics.StateUnknown] += len(rec.Stale)
	}
	return h
}

// syncOperation is the operation type of a sync for
// kubelet_pod_worker_duration_seconds, as kubelet names its pod updates:
// create for the worker's first sync, update when the pod was deleted or
// evicted since the last one (its desired state changed), sync otherwise
// (exits, probe kills, resyncs).
func (w *podWorker) syncOperation(in inbox) string {
	switch {
	case !w.synced:
		w.synced = true
		return metrics.OperationCreate
	case in.deleting || in.evict != nil:
		return metrics.OperationUpdate
	}
	return metrics.OperationSync
}

// observeSync records a sync of operation op that began at start.
func (w *podWorker) observeSync(op string, start time.Time) {
	w.a.opts.Metrics.PodWorkerSynced(op, w.a.clock.Since(start))
}
