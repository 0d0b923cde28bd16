package agent

import (
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/runtime"
)

// instance is one run of a Kubernetes container: one runtime container.
// Each restart creates a new instance with a fresh writable layer.
//
// Its state is derived from the timestamps, as containerd's CRI store does:
//
//	CreatedAt set, StartedAt zero, !Exited  → created, never started
//	StartedAt set, !Exited                  → running
//	Exited                                  → exited (ExitCode, FinishedAt)
//	Removed                                 → the runtime container is gone
//	                                          (the record stays for status)
type instance struct {
	ID         string    `json:"id"`
	Attempt    int32     `json:"attempt"`
	Image      string    `json:"image"`    // reference as written in the spec
	ImageRef   string    `json:"imageRef"` // normalised reference used to create it
	ImageID    string    `json:"imageID,omitempty"`
	LogPath    string    `json:"logPath"`
	CreatedAt  time.Time `json:"createdAt"`
	StartedAt  time.Time `json:"startedAt,omitempty"`
	FinishedAt time.Time `json:"finishedAt,omitempty"`
	Exited     bool      `json:"exited,omitempty"`
	ExitCode   int32     `json:"exitCode,omitempty"`
	OOMKilled  bool      `json:"oomKilled,omitempty"`
	Reason     string    `json:"reason,omitempty"` // terminated reason (Completed, Error, OOMKilled, StartError, ...)
	Message    string    `json:"message,omitempty"`
	Removed    bool      `json:"removed,omitempty"` // the runtime container is gone
	// Replaced: the agent stopped it because the spec's image changed; it
	// is restarted at once, whatever the restart policy and back-off say.
	Replaced bool `json:"replaced,omitempty"`
}

// running tells whether the instance's process is (believed to be) alive.
func (i *instance) running() bool { return i != nil && !i.Exited && !i.StartedAt.IsZero() }

// neverStarted tells whether the instance was created but never ran: after
// a failed start, or found so after an agent crash. It is replaced by a new
// instance of the same attempt, never counted as a run.
func (i *instance) neverStarted() bool { return i != nil && !i.Exited && i.StartedAt.IsZero() }

// hasRun tells whether the instance's process ran at some point.
func (i *instance) hasRun() bool { return i != nil && (i.Exited || !i.StartedAt.IsZero()) }

// waiting is why a container has no running instance right now.
type waiting struct {
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// containerRecord is everything the agent tracks of one container name of a pod.
type containerRecord struct {
	Name         string    `json:"name"`
	Init         bool      `json:"init,omitempty"`
	RestartCount int32     `json:"restartCount"`
	Current      *instance `json:"current,omitempty"` // the newest instance
	Last         *instance `json:"last,omitempty"`    // the one before it (lastState)
	Waiting      *waiting  `json:"waiting,omitempty"`
	Backoff      backoff   `json:"backoff"`     // crash-loop back-off
	FailBackoff  backoff   `json:"failBackoff"` // image pull / create / start failures
	FailedAt     time.Time `json:"failedAt,omitempty"`
}

// podRecord is the agent's state of one pod: the desired pod and what was
// observed. Once its worker runs, only the worker reads or writes it; it is
// checkpointed as JSON.
type podRecord struct {
	Pod        *v1.Pod                     `json:"pod"`
	Source     string                      `json:"source"`
	Sandbox    *runtime.Sandbox            `json:"sandbox,omitempty"`
	Containers map[string]*containerRecord `json:"containers"`
	StartTime  time.Time                   `json:"startTime,omitempty"`
	// Terminal is set once the pod is to end as Succeeded or Failed; kubelet
	// never moves a pod out of a terminal phase. The phase is shown once no
	// container runs any more.
	Terminal v1.PodPhase `json:"terminal,omitempty"`
	// Reason and Message are pod-level (e.g. Evicted, or an admission failure).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// KillGrace, if set, is the grace period the terminal pod's containers
	// are stopped with (0 for memory-pressure evictions).
	KillGrace *int64 `json:"killGrace,omitempty"`
	// Rejected pods are stored and shown but never run.
	Rejected bool `json:"rejected,omitempty"`
	// Deleting is set when the pod is being removed; Grace is the grace period to use.
	Deleting bool   `json:"deleting,omitempty"`
	Grace    *int64 `json:"grace,omitempty"`
	// Released is set once a finished pod gave back its sandbox, volumes,
	// cgroup and runtime containers; its records and logs stay.
	Released bool `json:"released,omitempty"`
	// Stale are runtime container IDs that failed to be removed (or were
	// half-created while the runtime was away): removed on a later sync.
	Stale []string `json:"stale,omitempty"`
	// Disruption is the DisruptionTarget condition of an evicted pod.
	Disruption *v1.PodCondition `json:"disruption,omitempty"`
	// Conditions as last published, to carry lastTransitionTime over.
	Conditions []v1.PodCondition `json:"conditions,omitempty"`
}

// container returns the record of a container name, creating it.
func (r *podRecord) container(name string, init bool) *containerRecord {
	if r.Containers == nil {
		r.Containers = map[string]*containerRecord{}
	}
	c, ok := r.Containers[name]
	if !ok {
		c = &containerRecord{Name: name, Init: init}
		r.Containers[name] = c
	}
	return c
}

// instances lists every instance the pod has that may still exist in the runtime.
func (r *podRecord) instances() []*instance {
	var out []*instance
	for _, c := range r.Containers {
		for _, i := range []*instance{c.Current, c.Last} {
			if i != nil && !i.Removed {
				out = append(out, i)
			}
		}
	}
	return out
}

// runtimeIDs lists the runtime container IDs the pod may still hold.
func (r *podRecord) runtimeIDs() []string {
	ids := append([]string(nil), r.Stale...)
	for _, in := range r.instances() {
		ids = append(ids, in.ID)
	}
	return ids
}

// anyRunning tells whether some container of the pod runs.
func (r *podRecord) anyRunning() bool {
	for _, c := range r.Containers {
		if c.Current.running() {
			return true
		}
	}
	return false
}

// hasStarted tells whether any container of the pod ever ran.
func (r *podRecord) hasStarted() bool {
	for _, c := range r.Containers {
		if c.Current.hasRun() || c.Last != nil {
			return true
		}
	}
	return false
}

// findInstance returns the container record and instance with runtime ID id.
func (r *podRecord) findInstance(id string) (*containerRecord, *instance) {
	for _, c := range r.Containers {
		if c.Current != nil && c.Current.ID == id {
			return c, c.Current
		}
		if c.Last != nil && c.Last.ID == id {
			return c, c.Last
		}
	}
	return nil, nil
}

// isSidecar tells whether an init container is a restartable one.
func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}
