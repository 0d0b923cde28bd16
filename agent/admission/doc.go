// Package admission decides, as kubelet's admission handlers and the
// scheduler's filter plugins do, whether this node may run a pod, and when a
// NoExecute taint evicts a running pod. Everything here is pure: the caller
// passes the pod, the node and the admitted pods already on the node (and
// the current time where one matters) and gets a decision back.
//
// Admit runs the checks in kubelet's order and reports only the first
// failure, with kubelet's reason and message:
//
//	OS label / OS field      PodOSSelectorNodeLabelDoesNotMatch, PodOSNotSupported
//	resources                OutOfpods, OutOfcpu, OutOfmemory, OutOfephemeral-storage, OutOf<name>
//	required node affinity   NodeAffinity (nodeSelector and requiredDuringScheduling...)
//	node name                NodeName
//	host ports               NodePorts
//	taints                   TaintToleration (NoSchedule and NoExecute; not for static pods)
//	inter-pod affinity       InterPodAffinity (required affinity, anti-affinity, existing pods' anti-affinity)
//
// kubelet itself only checks NoExecute taints and no inter-pod affinity,
// because the scheduler has already done so before binding; miniagent has no
// scheduler, so Admit adds the scheduler's NoSchedule taint filter and its
// InterPodAffinity filter after kubelet's own checks. PreferNoSchedule taints
// and preferred affinity never reject: the first is reported in
// Result.Warnings, the second by PreferredAffinity for describe.
//
// NoExecuteDecision is the taint manager's decision for one running pod:
// evict now, evict at a later time (tolerationSeconds), or never.
package admission
