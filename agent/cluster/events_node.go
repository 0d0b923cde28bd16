package cluster

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// NodeEventRecorder records events about the Node (Events implements it).
type NodeEventRecorder interface {
	NodeEvent(eventType, reason, message string)
}

// nodeConditionEvents are the reasons of kubelet's events for the Node's
// conditions that old (the status in the apiserver) and next (the one
// patched) do not agree on: NodeHasSufficientMemory, NodeHasNoDiskPressure,
// NodeHasSufficientPID, NodeReady and their opposites. A condition new in
// next counts as changed, as at registration.
func nodeConditionEvents(old, next *v1.NodeStatus) []string {
	names := []struct {
		t         v1.NodeConditionType
		ok, notOK string
		okWhen    v1.ConditionStatus
	}{
		{v1.NodeMemoryPressure, "NodeHasSufficientMemory", "NodeHasInsufficientMemory", v1.ConditionFalse},
		{v1.NodeDiskPressure, "NodeHasNoDiskPressure", "NodeHasDiskPressure", v1.ConditionFalse},
		{v1.NodePIDPressure, "NodeHasSufficientPID", "NodeHasInsufficientPID", v1.ConditionFalse},
		{v1.NodeReady, "NodeReady", "NodeNotReady", v1.ConditionTrue},
	}
	var out []string
	for _, n := range names {
		now, ok := condition(next, n.t)
		if !ok {
			continue
		}
		if before, had := condition(old, n.t); had && before.Status == now.Status {
			continue
		}
		reason := n.notOK
		if now.Status == n.okWhen {
			reason = n.ok
		}
		out = append(out, reason)
	}
	return out
}

// nodeEventMessage is kubelet's message of a node status event.
func nodeEventMessage(nodeName, reason string) string {
	return fmt.Sprintf("Node %s status is now: %s", nodeName, reason)
}

func condition(s *v1.NodeStatus, t v1.NodeConditionType) (v1.NodeCondition, bool) {
	for _, c := range s.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return v1.NodeCondition{}, false
}

// recordNodeEvents records the condition events of a status patch.
func recordNodeEvents(r NodeEventRecorder, nodeName string, old, next *v1.NodeStatus) {
	if r == nil {
		return
	}
	for _, reason := range nodeConditionEvents(old, next) {
		r.NodeEvent(v1.EventTypeNormal, reason, nodeEventMessage(nodeName, reason))
	}
}
