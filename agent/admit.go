package agent

import (
	"context"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/admission"
	"github.com/miniagent/miniagent/agent/eviction"
	"github.com/miniagent/miniagent/agent/sources"
	"github.com/miniagent/miniagent/agent/spec"
	"github.com/miniagent/miniagent/cgroups"
)

// ReasonUnsupportedPodSpec is the reason of a pod from the API server that
// uses what miniagent cannot run (spec.Validate's "not supported by
// miniagent" errors, e.g. an ephemeral container or a csi volume). The
// kubelet has no such reason: it runs all of these.
const ReasonUnsupportedPodSpec = "UnsupportedPodSpec"

// admitLocked decides whether this node may run a new pod, as kubelet's
// admission handlers do, in kubelet's order, keeping only the first
// failure. A rejected pod is kept and shown with phase Failed, never run.
func (a *Agent) admitLocked(rec *podRecord, active []*v1.Pod) {
	pod := rec.Pod
	// The API server validated its pods for Kubernetes, not for what this
	// agent can run: one it cannot run as specified is rejected, never run
	// in part. (The other sources validate before they hand a pod over.)
	if rec.Source == sources.SourceAPIServer {
		if errs := spec.ValidateFromAPIServer(pod); len(errs) > 0 {
			rec.Rejected = true
			rec.Reason = ReasonUnsupportedPodSpec
			rec.Message = admission.RejectedPrefix + errs.ToAggregate().Error()
			a.events.warn(pod, rec.Reason, errs.ToAggregate().Error())
			a.log.Info("pod rejected", "pod", podFullName(pod), "reason", rec.Reason, "message", rec.Message)
			return
		}
	}
	// The eviction manager's admission comes first: under memory pressure
	// BestEffort pods are turned away (critical pods excepted).
	if a.evictor != nil && a.evictor.MemoryPressure() && cgroups.QOSClass(pod) == v1.PodQOSBestEffort && !eviction.IsCritical(pod) {
		rec.Rejected = true
		rec.Reason = eviction.Reason
		rec.Message = admission.RejectedPrefix + "The node had condition: [MemoryPressure]. "
		a.events.warn(pod, rec.Reason, "The node had condition: [MemoryPressure]. ")
		return
	}
	res := admission.Admit(pod, a.admissionNodeLocked(), active)
	for _, w := range res.Warnings {
		a.events.warn(pod, admission.WarningReason, w)
	}
	if res.Admit {
		return
	}
	rec.Rejected = true
	rec.Reason = res.Reason
	rec.Message = res.StatusMessage()
	a.events.warn(pod, res.Reason, res.Message)
	a.log.Info("pod rejected", "pod", podFullName(pod), "reason", res.Reason, "message", res.Message)
}

// nodeChanged reacts to new labels or taints: labels never evict running
// pods (IgnoredDuringExecution); NoExecute taints are the taint manager's.
func (a *Agent) nodeChanged() {
	select {
	case a.taintsChanged <- struct{}{}:
	default:
	}
}

// runTaintManager evicts pods that do not tolerate the node's NoExecute
// taints: at once, or after their tolerationSeconds. It re-decides
// whenever the taints change, so a taint removed in time cancels a pending
// eviction.
func (a *Agent) runTaintManager(ctx context.Context) {
	timer := a.clock.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := a.taintPass()
		d := time.Hour
		if !next.IsZero() {
			d = next.Sub(a.clock.Now())
		}
		resetTimer(timer, d)
		select {
		case <-ctx.Done():
			return
		case <-a.taintsChanged:
		case <-timer.C():
		}
	}
}

// taintPass evicts the pods due now and returns when the next one is due.
// The evictions are requests to the pods' workers.
func (a *Agent) taintPass() time.Time {
	a.mu.Lock()
	now := a.clock.Now()
	taints := a.taintManagerTaintsLocked()
	snaps := a.snapshotsLocked()
	workers := make(map[types.UID]*podWorker, len(a.workers))
	for uid, w := range a.workers {
		workers[uid] = w
	}
	a.mu.Unlock()
	var next time.Time
	var due []*podSnapshot
	pending := map[types.UID]bool{}
	for _, s := range snaps {
		if !s.active || s.deleting {
			continue
		}
		evict, at := admission.NoExecuteDecision(s.pod, taints, now)
		if !evict {
			continue
		}
		if !at.After(now) {
			due = append(due, s)
			continue
		}
		pending[s.pod.UID] = true
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	// A taint removed in time cancels the pending eviction.
	a.mu.Lock()
	before := a.pendingEvictions
	a.pendingEvictions = pending
	a.mu.Unlock()
	for uid := range before {
		if w := workers[uid]; w != nil && !pending[uid] {
			if s := w.snap.Load(); s.active {
				a.events.normal(s.pod, admission.EvictionReason, admission.CancelEventMessage(s.pod))
			}
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].pod.Name < due[j].pod.Name })
	for _, s := range due {
		a.events.normal(s.pod, admission.EvictionReason, admission.EvictionEventMessage(s.pod))
		workers[s.pod.UID].requestEvict(evictRequest{
			Reason: admission.EvictionReason, Message: admission.EvictionMessage(s.pod, taints),
			Condition: &v1.PodCondition{
				Type: v1.DisruptionTarget, Status: v1.ConditionTrue,
				Reason: admission.DisruptionConditionReason, Message: admission.DisruptionConditionMessage,
			},
		})
	}
	return next
}
