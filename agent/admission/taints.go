package admission

import (
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
)

// Texts of a NoExecute eviction. The taint manager deletes the pod after
// recording a TaintManagerEviction event "Marking for deletion Pod ns/name"
// and adding a DisruptionTarget condition (reason DeletionByTaintManager,
// message "Taint manager: deleting due to NoExecute taint"). miniagent keeps
// the evicted pod visible instead of deleting it: the agent kills its
// containers, sets phase Failed with status reason EvictionReason and
// message EvictionMessage, adds that DisruptionTarget condition and records
// the event with EvictionEventMessage.
const (
	EvictionReason             = "TaintManagerEviction"
	DisruptionConditionReason  = "DeletionByTaintManager"
	DisruptionConditionMessage = "Taint manager: deleting due to NoExecute taint"
)

// EvictionEventMessage is the event message the taint manager records.
func EvictionEventMessage(pod *v1.Pod) string {
	return fmt.Sprintf("Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
}

// CancelEventMessage is the event message the taint manager records when a
// pending eviction is cancelled (the taint went away or became tolerated
// forever before tolerationSeconds ran out).
func CancelEventMessage(pod *v1.Pod) string {
	return fmt.Sprintf("Cancelling deletion of Pod %s/%s", pod.Namespace, pod.Name)
}

// EvictionMessage is the pod status message of an evicted pod, naming the
// NoExecute taints it does not tolerate or tolerates only for a while.
func EvictionMessage(pod *v1.Pod, taints []v1.Taint) string {
	s := DisruptionConditionMessage
	n := 0
	for _, t := range noExecute(taints) {
		if tol, ok := Tolerated(pod.Spec.Tolerations, t); ok && tol.TolerationSeconds == nil {
			continue
		}
		if n == 0 {
			s += " "
		} else {
			s += ", "
		}
		s += t.ToString()
		n++
	}
	return s
}

// Tolerates reports whether toleration t tolerates taint: an empty effect
// matches every effect, an empty key with Exists matches every key, Exists
// matches any value and Equal (or no operator) needs the same value.
// Comparison operators (Gt, Lt, alpha in Kubernetes) never match.
func Tolerates(t v1.Toleration, taint v1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "", v1.TolerationOpEqual:
		return t.Value == taint.Value
	case v1.TolerationOpExists:
		return true
	}
	return false
}

// Tolerated reports whether some toleration tolerates the taint and returns
// the first that does.
func Tolerated(tols []v1.Toleration, taint v1.Taint) (v1.Toleration, bool) {
	for _, t := range tols {
		if Tolerates(t, taint) {
			return t, true
		}
	}
	return v1.Toleration{}, false
}

// untolerated returns the first taint accepted by filter that no toleration
// tolerates.
func untolerated(taints []v1.Taint, tols []v1.Toleration, filter func(v1.Taint) bool) (v1.Taint, bool) {
	for _, taint := range taints {
		if !filter(taint) {
			continue
		}
		if _, ok := Tolerated(tols, taint); !ok {
			return taint, true
		}
	}
	return v1.Taint{}, false
}

func noExecute(taints []v1.Taint) []v1.Taint {
	var out []v1.Taint
	for _, t := range taints {
		if t.Effect == v1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// NoExecuteDecision is the taint manager's decision for a pod running on a
// node with these taints. It returns evict=false when every NoExecute taint
// is tolerated forever (or there is none). Otherwise at is when the pod must
// go: now for a taint no toleration tolerates, else the earliest over the
// NoExecute taints of the taint's timeAdded (now if unset) plus the
// tolerationSeconds of the first toleration that tolerates it (a toleration
// without tolerationSeconds tolerates that taint forever; zero or negative
// seconds mean at once). at may lie in the past: the pod is then due now.
// The caller schedules the eviction at at and asks again whenever the taints
// change, so removing the taint in time cancels it. Static pods are never
// evicted: the taint manager can only delete their mirror pod, which kubelet
// recreates.
func NoExecuteDecision(pod *v1.Pod, taints []v1.Taint, now time.Time) (evict bool, at time.Time) {
	if isStatic(pod) {
		return false, time.Time{}
	}
	for _, taint := range noExecute(taints) {
		tol, ok := Tolerated(pod.Spec.Tolerations, taint)
		if !ok {
			return true, now
		}
		if tol.TolerationSeconds == nil {
			continue
		}
		start := now
		if taint.TimeAdded != nil && !taint.TimeAdded.IsZero() {
			start = taint.TimeAdded.Time
		}
		due := start
		if s := *tol.TolerationSeconds; s > 0 {
			due = start.Add(time.Duration(s) * time.Second)
		}
		if !evict || due.Before(at) {
			evict, at = true, due
		}
	}
	return evict, at
}

// isStatic reports whether the pod came from a config source other than the
// API (kubelet's static pod).
func isStatic(pod *v1.Pod) bool {
	src, ok := pod.Annotations["kubernetes.io/config.source"]
	return ok && src != "api"
}
