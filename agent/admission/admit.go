package admission

import (
	"fmt"
	"runtime"

	v1 "k8s.io/api/core/v1"
)

// Predicate names (the rejected pod's status reason) and their descriptions,
// as kubelet and the scheduler plugins word them.
const (
	NodeAffinity     = "NodeAffinity"
	NodeName         = "NodeName"
	NodePorts        = "NodePorts"
	TaintToleration  = "TaintToleration"
	InterPodAffinity = "InterPodAffinity"

	ErrNodeAffinity    = "node(s) didn't match Pod's node affinity/selector"
	ErrNodeName        = "node(s) didn't match the requested node name"
	ErrNodePorts       = "node(s) didn't have free ports for the requested pod ports"
	ErrTaintToleration = "node(s) had taints that the pod didn't tolerate"

	PodOSSelectorNodeLabelDoesNotMatch = "PodOSSelectorNodeLabelDoesNotMatch"
	PodOSNotSupported                  = "PodOSNotSupported"

	// RejectedPrefix starts the status message of a rejected pod.
	RejectedPrefix = "Pod was rejected: "

	// WarningReason is the reason of the Warning event recorded for each
	// entry of Result.Warnings (kubelet has none: its scheduler only scores
	// PreferNoSchedule taints).
	WarningReason = "UntoleratedPreferNoSchedule"
)

// Result is the outcome of Admit.
type Result struct {
	// Admit is true when the pod may run here.
	Admit bool
	// Reason is the rejected pod's status reason (and event reason):
	// "OutOfmemory", "NodeAffinity", ...
	Reason string
	// Message is kubelet's admission message without the "Pod was
	// rejected: " prefix, e.g. "Predicate NodeAffinity failed: node(s)
	// didn't match Pod's node affinity/selector". kubelet records it as the
	// event message; StatusMessage is what goes in the pod's status.
	Message string
	// Warnings are reasons to admit with a warning event: one per
	// PreferNoSchedule taint the pod does not tolerate.
	Warnings []string
}

// StatusMessage is the rejected pod's status message: "Pod was rejected: "
// followed by Message. It is "" for an admitted pod.
func (r Result) StatusMessage() string {
	if r.Admit {
		return ""
	}
	return RejectedPrefix + r.Message
}

func reject(reason, message string) Result {
	return Result{Reason: reason, Message: message}
}

func predicateFailed(name, desc string) Result {
	return reject(name, fmt.Sprintf("Predicate %s failed: %s", name, desc))
}

// Admit decides whether the node may run pod, given the pods already
// admitted and not terminal on it (existing; the pod itself, if present, is
// ignored). Checks run in kubelet's order and only the first failure is
// reported:
//
//  1. the pod's kubernetes.io/os label and spec.os against the node's OS;
//  2. resources: pod count, then cpu, memory, ephemeral-storage and other
//     resources the node lists, requests (PodRequests) of existing pods plus
//     this pod against allocatable (reason OutOf<resource>, message "Node
//     didn't have enough resource: memory, requested: R, used: U,
//     capacity: C");
//  3. NodeAffinity: nodeSelector and required node affinity;
//  4. NodeName: spec.nodeName, if set, must be the node's name;
//  5. NodePorts: host ports (protocol and hostIP aware);
//  6. TaintToleration: NoSchedule and NoExecute taints must be tolerated
//     (static pods skip this check, as in kubelet);
//  7. InterPodAffinity: required pod affinity and anti-affinity, and the
//     existing pods' required anti-affinity.
//
// Untolerated PreferNoSchedule taints are listed in Warnings of an admitted
// pod. Admit never looks at preferred affinity (see PreferredAffinity).
func Admit(pod *v1.Pod, node *v1.Node, existing []*v1.Pod) Result {
	nodeOS := node.Labels[v1.LabelOSStable]
	if nodeOS == "" {
		nodeOS = runtime.GOOS
	}
	if want, ok := pod.Labels[v1.LabelOSStable]; ok && want != nodeOS {
		return reject(PodOSSelectorNodeLabelDoesNotMatch, "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label")
	}
	if pod.Spec.OS != nil && string(pod.Spec.OS.Name) != runtime.GOOS {
		return reject(PodOSNotSupported, "Failed to admit pod as the OS field doesn't match node OS")
	}
	existing = others(pod, existing)
	if r := fitResources(pod, node, existing); r != nil {
		return reject("OutOf"+string(r.name), fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
			r.name, r.requested, r.used, r.capacity))
	}
	if !RequiredNodeAffinityMatches(pod, node) {
		return predicateFailed(NodeAffinity, ErrNodeAffinity)
	}
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != node.Name {
		return predicateFailed(NodeName, ErrNodeName)
	}
	if !portsFit(pod, existing) {
		return predicateFailed(NodePorts, ErrNodePorts)
	}
	if !isStatic(pod) {
		if _, bad := untolerated(node.Spec.Taints, pod.Spec.Tolerations, func(t v1.Taint) bool {
			return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
		}); bad {
			return predicateFailed(TaintToleration, ErrTaintToleration)
		}
	}
	if why := interPodAffinity(pod, node, existing); why != "" {
		return predicateFailed(InterPodAffinity, why)
	}
	res := Result{Admit: true}
	for _, t := range node.Spec.Taints {
		if t.Effect != v1.TaintEffectPreferNoSchedule {
			continue
		}
		if _, ok := Tolerated(pod.Spec.Tolerations, t); !ok {
			res.Warnings = append(res.Warnings, fmt.Sprintf("node has taint %s that the pod does not tolerate (PreferNoSchedule: admitted anyway)", t.ToString()))
		}
	}
	return res
}
