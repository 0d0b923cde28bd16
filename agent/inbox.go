package agent

import (
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The requests other parts of the agent send a pod worker. They never touch
// the pod's record or call the runtime for it: the worker decides.

// exitObservation is a container exit seen by the runtime's event stream.
type exitObservation struct {
	ID        string
	Code      int32
	At        time.Time
	OOMKilled bool
}

// killRequest asks to stop one running container instance (a failed
// liveness or startup probe); the restart policy then decides.
type killRequest struct {
	ContainerID string
	Name        string
	Grace       time.Duration
	Message     string // the Killing event's message
}

// evictRequest asks to end the pod for good: phase Failed with the reason
// and message, its containers stopped with Grace (nil: the pod's).
type evictRequest struct {
	Reason, Message string
	Condition       *v1.PodCondition // e.g. DisruptionTarget
	Grace           *int64
}

// inbox holds what was sent to a worker since its last sync.
type inbox struct {
	deleting  bool
	deletedAt metav1.Time
	grace     *int64 // the deletion's grace period; it only shrinks
	exits     []exitObservation
	kills     []killRequest
	evict     *evictRequest
	reconcile bool    // look up the runtime state of every instance again
	update    *v1.Pod // the pod after an in-place update; the latest wins
}

// send merges a request into the worker's inbox and wakes it.
func (w *podWorker) send(f func(in *inbox)) {
	w.mu.Lock()
	f(&w.in)
	w.mu.Unlock()
	w.poke()
}

// requestDelete asks the worker to stop and remove the pod.
func (w *podWorker) requestDelete(at metav1.Time, grace *int64) {
	w.send(func(in *inbox) {
		if !in.deleting {
			in.deleting, in.deletedAt = true, at
		}
		if grace != nil && (in.grace == nil || *grace < *in.grace) {
			g := *grace
			in.grace = &g
		}
	})
}

// requestExit reports a container exit.
func (w *podWorker) requestExit(ev exitObservation) {
	w.send(func(in *inbox) { in.exits = append(in.exits, ev) })
}

// requestKill asks to stop a container for a failed probe.
func (w *podWorker) requestKill(k killRequest) {
	w.send(func(in *inbox) { in.kills = append(in.kills, k) })
}

// requestEvict asks to end the pod; the first eviction wins.
func (w *podWorker) requestEvict(e evictRequest) {
	w.send(func(in *inbox) {
		if in.evict == nil {
			in.evict = &e
		}
	})
}

// requestReconcile asks to re-read every instance's state from the runtime.
func (w *podWorker) requestReconcile() {
	w.send(func(in *inbox) { in.reconcile = true })
}

// requestUpdate hands the worker the pod after an in-place update.
func (w *podWorker) requestUpdate(pod *v1.Pod) {
	w.send(func(in *inbox) { in.update = pod })
}

// take empties the inbox.
func (w *podWorker) take() inbox {
	w.mu.Lock()
	defer w.mu.Unlock()
	in := w.in
	w.in = inbox{}
	return in
}
