package agent

import (
	"context"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/eviction"
)

// setupCgroups creates the top-level pods cgroup with the node allocatable
// limits, when a cgroup manager is configured.
func (a *Agent) setupCgroups() error {
	if a.opts.Cgroups == nil {
		return nil
	}
	return a.opts.Cgroups.EnsureTop(a.opts.Allocatable)
}

// ensurePodCgroup creates the pod-level cgroup with its values and updates
// the QoS cgroups; it returns the pod cgroup's path.
func (a *Agent) ensurePodCgroup(pod *v1.Pod) (string, error) {
	if a.opts.Cgroups == nil {
		return a.podCgroupParent(pod), nil
	}
	path, err := a.opts.Cgroups.EnsurePod(pod)
	if err != nil {
		return "", err
	}
	a.updateQoSCgroups()
	return path, nil
}

// updateQoSCgroups sets the burstable and besteffort cgroups from the
// active pods.
func (a *Agent) updateQoSCgroups() {
	if a.opts.Cgroups == nil {
		return
	}
	a.mu.Lock()
	pods := a.activePodsLocked()
	a.mu.Unlock()
	if err := a.opts.Cgroups.UpdateQoS(pods); err != nil {
		a.log.Warn("update QoS cgroups", "err", err)
	}
}

// allocatable is what the node offers to pods.
func (a *Agent) allocatable(capacity v1.ResourceList) v1.ResourceList {
	if a.opts.Cgroups == nil || a.opts.Allocatable.Capacity == nil {
		return capacity.DeepCopy()
	}
	out := capacity.DeepCopy()
	for k, v := range a.opts.Allocatable.Allocatable() {
		out[k] = v
	}
	return out
}

// startEviction runs the memory eviction manager, when configured.
func (a *Agent) startEviction(ctx context.Context) {
	if a.opts.Eviction == nil || a.opts.Cgroups == nil {
		return
	}
	cfg := *a.opts.Eviction
	cfg.Clock = a.clock
	cfg.Log = a.log
	cfg.Observe = eviction.NewHostObserver(a.opts.Cgroups, a.opts.Allocatable)
	cfg.ListPods = a.evictionStats
	cfg.Evict = a.evictForPressure
	cfg.PodCleanedUp = a.podCleanedUp
	cfg.Evicted = a.countEviction
	m := eviction.NewManager(cfg)
	a.mu.Lock()
	a.evictor = m
	a.mu.Unlock()
	go func() {
		// Run returns only when ctx ends.
		_ = m.Run(ctx)
	}()
}

// evictionStats lists the active pods with the cgroups of their running containers.
func (a *Agent) evictionStats() []eviction.PodStats {
	a.mu.Lock()
	snaps := a.snapshotsLocked()
	a.mu.Unlock()
	out := make([]eviction.PodStats, 0, len(snaps))
	for _, s := range snaps {
		if s.active && !s.deleting {
			out = append(out, eviction.PodStatsFrom(s.pod, s.cgroups, a.opts.Cgroups.MemoryStats))
		}
	}
	return out
}

// evictForPressure asks a pod's worker to end the pod because the node is
// low on memory, as kubelet's eviction manager does: phase Failed, reason
// Evicted, containers stopped at once.
func (a *Agent) evictForPressure(podUID, message string) bool {
	w := a.worker(types.UID(podUID))
	if w == nil {
		return false
	}
	s := w.snap.Load()
	if !s.active || s.deleting {
		return false
	}
	a.events.warn(s.pod, eviction.Reason, message)
	zero := int64(0)
	w.requestEvict(evictRequest{
		Reason: eviction.Reason, Message: message, Grace: &zero,
		Condition: &v1.PodCondition{
			Type: v1.DisruptionTarget, Status: v1.ConditionTrue,
			Reason: "TerminationByKubelet", Message: message,
		},
	})
	return true
}

// podCleanedUp tells whether an evicted pod gave back what it held (or is
// gone), for the eviction manager's wait for reclaim.
func (a *Agent) podCleanedUp(podUID string) bool {
	s := a.snapshot(types.UID(podUID))
	return s == nil || s.released
}

// memoryPressureCondition is the node's MemoryPressure condition.
func (a *Agent) memoryPressureConditionLocked(now metav1.Time) v1.NodeCondition {
	if a.evictor != nil {
		c := a.evictor.Condition(a.lastMemoryPressure)
		a.lastMemoryPressure = &c
		return c
	}
	return v1.NodeCondition{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientMemory",
		Message: "kubelet has sufficient memory available", LastHeartbeatTime: now, LastTransitionTime: metav1.NewTime(a.node.created)}
}
