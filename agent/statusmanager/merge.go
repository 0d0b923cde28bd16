package statusmanager

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// kubeletConditions are the pod condition types the kubelet owns: their
// value always comes from the node.
var kubeletConditions = map[v1.PodConditionType]bool{
	v1.PodScheduled:              true,
	v1.PodReady:                  true,
	v1.PodInitialized:            true,
	v1.ContainersReady:           true,
	v1.PodReadyToStartContainers: true,
	v1.PodResizeInProgress:       true,
	v1.PodResizePending:          true,
}

func terminal(p v1.PodPhase) bool { return p == v1.PodSucceeded || p == v1.PodFailed }

// Merge is the status to write given the API server's current status old
// and the agent's status next. Conditions not owned by the kubelet are kept
// from old; the kubelet's come from next; DisruptionTarget (shared) is taken
// from next only when the pod moves to a terminal phase with this write. A
// pod already terminal in the API server stays so: a non-terminal next
// keeps old's phase, reason and message. With a terminal phase, Ready and
// ContainersReady are never True (a condition turned False here gets now as
// its transition time). Neither argument is modified.
func Merge(old, next v1.PodStatus, now metav1.Time) v1.PodStatus {
	out := *next.DeepCopy()
	toTerminal := !terminal(old.Phase) && terminal(next.Phase)
	conds := make([]v1.PodCondition, 0, len(old.Conditions)+len(next.Conditions))
	for _, c := range old.Conditions {
		if !kubeletConditions[c.Type] {
			conds = append(conds, c)
		}
	}
	for _, c := range next.Conditions {
		switch {
		case kubeletConditions[c.Type]:
			conds = append(conds, c)
		case c.Type == v1.DisruptionTarget && toTerminal:
			conds = replaceOrAppend(conds, c)
		}
	}
	out.Conditions = conds
	if terminal(old.Phase) && !terminal(out.Phase) {
		out.Phase, out.Reason, out.Message = old.Phase, old.Reason, old.Message
	}
	if terminal(out.Phase) {
		for i := range out.Conditions {
			c := &out.Conditions[i]
			if (c.Type == v1.PodReady || c.Type == v1.ContainersReady) && c.Status == v1.ConditionTrue {
				c.Status, c.Reason = v1.ConditionFalse, terminalReason(out.Phase)
				c.LastTransitionTime = now
			}
		}
	}
	return out
}

func terminalReason(p v1.PodPhase) string {
	if p == v1.PodSucceeded {
		return "PodCompleted"
	}
	return "PodFailed"
}

func replaceOrAppend(conds []v1.PodCondition, c v1.PodCondition) []v1.PodCondition {
	for i := range conds {
		if conds[i].Type == c.Type {
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}

// PatchBytes is the strategic-merge patch of pods/status that turns old
// into next for the pod with uid, with metadata.uid in it as a
// precondition (the API server refuses it for a pod with another UID).
// unchanged is true when the patch would change nothing but that.
func PatchBytes(uid types.UID, old, next v1.PodStatus) (patch []byte, unchanged bool, err error) {
	oldData, err := json.Marshal(v1.Pod{Status: old})
	if err != nil {
		return nil, false, fmt.Errorf("marshal old status: %w", err)
	}
	newData, err := json.Marshal(v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}, Status: next})
	if err != nil {
		return nil, false, fmt.Errorf("marshal new status: %w", err)
	}
	patch, err = strategicpatch.CreateTwoWayMergePatch(oldData, newData, v1.Pod{})
	if err != nil {
		return nil, false, fmt.Errorf("create status patch: %w", err)
	}
	onlyUID := fmt.Appendf(nil, `{"metadata":{"uid":%q}}`, uid)
	return patch, bytes.Equal(patch, onlyUID), nil
}

// canBeDeleted reports whether the kubelet would now remove pod from the
// API server: its deletion was requested, the phase there is terminal, and
// the worker finished with it.
func canBeDeleted(pod *v1.Pod, finished bool) bool {
	return pod.DeletionTimestamp != nil && terminal(pod.Status.Phase) && finished
}
