package agent

import (
	"context"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/admission"
	"github.com/miniagent/miniagent/agent/eviction"
	"github.com/miniagent/miniagent/cgroups"
)

// activePodsLocked lists the admitted pods that still hold resources on
// this node (not rejected, not finished), except skip.
func (a *Agent) activePodsLocked(skip *podRecord) []*v1.Pod {
	var out []*v1.Pod
	for _, r := range a.pods {
		if r == skip || r.Rejected || r.Terminal != "" {
			continue
		}
		out = append(out, r.Pod)
	}
	return out
}

// admitLocked decides whether this node may run a new pod, as kubelet's
// admission handlers do, in kubelet's order, keeping only the first
// failure. A rejected pod is kept and shown with phase Failed, never run.
func (a *Agent) admitLocked(rec *podRecord) {
	pod := rec.Pod
	// The eviction manager's admission comes first: under memory pressure
	// BestEffort pods are turned away (critical pods excepted).
	if a.evictor != nil && a.evictor.MemoryPressure() && cgroups.QOSClass(pod) == v1.PodQOSBestEffort && !eviction.IsCritical(pod) {
		rec.Rejected = true
		rec.Reason = eviction.Reason
		rec.Message = admission.RejectedPrefix + "The node had condition: [MemoryPressure]. "
		a.events.warn(pod, rec.Reason, "The node had condition: [MemoryPressure]. ")
		return
	}
	res := admission.Admit(pod, a.buildNodeLocked(), a.activePodsLocked(rec))
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

// evictLocked ends a running pod for good: phase Failed with reason and
// message; its worker then stops the containers. cond, if set, is added to
// the pod's conditions (e.g. DisruptionTarget).
func (a *Agent) evictLocked(rec *podRecord, reason, message string, cond *v1.PodCondition) {
	if rec.Terminal != "" || rec.Rejected || rec.Deleting {
		return
	}
	rec.Terminal = v1.PodFailed
	rec.Reason, rec.Message = reason, message
	if cond != nil {
		cond.LastTransitionTime = metav1.NewTime(a.clock.Now())
		rec.Disruption = cond
	}
	if w := a.workers[rec.Pod.UID]; w != nil {
		w.poke()
	}
	a.log.Info("pod evicted", "pod", podFullName(rec.Pod), "reason", reason, "message", message)
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
func (a *Agent) taintPass() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	taints := a.node.cfg.Taints
	var next time.Time
	var due []*podRecord
	pending := map[types.UID]bool{}
	for _, rec := range a.pods {
		if rec.Terminal != "" || rec.Rejected || rec.Deleting {
			continue
		}
		evict, at := admission.NoExecuteDecision(rec.Pod, taints, now)
		if !evict {
			continue
		}
		if !at.After(now) {
			due = append(due, rec)
			continue
		}
		pending[rec.Pod.UID] = true
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	// A taint removed in time cancels the pending eviction.
	for uid := range a.pendingEvictions {
		if rec := a.pods[uid]; rec != nil && !pending[uid] && rec.Terminal == "" {
			a.events.normal(rec.Pod, admission.EvictionReason, admission.CancelEventMessage(rec.Pod))
		}
	}
	a.pendingEvictions = pending
	sort.Slice(due, func(i, j int) bool { return due[i].Pod.Name < due[j].Pod.Name })
	for _, rec := range due {
		a.events.normal(rec.Pod, admission.EvictionReason, admission.EvictionEventMessage(rec.Pod))
		a.evictLocked(rec, admission.EvictionReason, admission.EvictionMessage(rec.Pod, taints), &v1.PodCondition{
			Type: v1.DisruptionTarget, Status: v1.ConditionTrue,
			Reason: admission.DisruptionConditionReason, Message: admission.DisruptionConditionMessage,
		})
	}
	return next
}
