package podstatus

import v1 "k8s.io/api/core/v1"

// Kubelet's reason and message for a container that has no terminated
// state when its pod ends (the status manager's TerminatePod): its end is
// unknown, so it is reported as a failure.
const (
	ReasonStatusUnknown  = "ContainerStatusUnknown"
	MessageStatusUnknown = "The container could not be located when the pod was terminated"
)

// unknownEnd is the state kubelet gives such a container.
func unknownEnd() v1.ContainerState {
	return v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
		Reason: ReasonStatusUnknown, Message: MessageStatusUnknown, ExitCode: 137,
	}}
}

// TerminateContainers changes st, the final status of a pod that ended
// (deleted, evicted...), as kubelet's TerminatePod does: once the pod has
// initialized, every regular container without a terminated state is
// terminated with ContainerStatusUnknown and exit code 137; of the init
// containers, those that tried to start (all but the trailing ones still
// waiting, and always the first) are. A pod deleted before its containers
// ran thus shows them terminated, not waiting.
func TerminateContainers(pod *v1.Pod, st *v1.PodStatus) {
	if hasInitialized(pod, st) {
		for i := range st.ContainerStatuses {
			if st.ContainerStatuses[i].State.Terminated == nil {
				st.ContainerStatuses[i].State = unknownEnd()
			}
		}
	}
	inits := st.InitContainerStatuses
	for i := range triedToStart(inits) {
		if inits[i].State.Terminated == nil {
			inits[i].State = unknownEnd()
		}
	}
}

// hasInitialized is kubelet's hasPodInitialized: a pod without init
// containers always is; else once a regular container left waiting or
// ended before, or the last init container completed (a sidecar: runs and
// started).
func hasInitialized(pod *v1.Pod, st *v1.PodStatus) bool {
	if len(pod.Spec.InitContainers) == 0 {
		return true
	}
	for _, cs := range st.ContainerStatuses {
		if cs.LastTerminationState.Terminated != nil || cs.State.Waiting == nil {
			return true
		}
	}
	n := len(st.InitContainerStatuses)
	if n == 0 || n > len(pod.Spec.InitContainers) {
		return false
	}
	last, cs := &pod.Spec.InitContainers[n-1], st.InitContainerStatuses[n-1]
	if last.Name != cs.Name {
		return false
	}
	if IsRestartableInitContainer(last) {
		return cs.State.Running != nil && isTrue(cs.Started)
	}
	for _, s := range []v1.ContainerState{cs.LastTerminationState, cs.State} {
		if s.Terminated != nil && s.Terminated.ExitCode == 0 {
			return true
		}
	}
	return false
}

// triedToStart is how many of the init containers' statuses, from the
// first, tried to start: up to the last one that is not waiting or ended
// before; at least one.
func triedToStart(inits []v1.ContainerStatus) int {
	for i := len(inits) - 1; i >= 0; i-- {
		if inits[i].State.Waiting == nil || inits[i].LastTerminationState.Terminated != nil {
			return i + 1
		}
	}
	return min(1, len(inits))
}
