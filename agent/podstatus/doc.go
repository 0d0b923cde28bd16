// Package podstatus holds the pure deciders that turn a pod spec and its
// container statuses into what kubelet reports for the pod: the phase
// (Pending, Running, Succeeded, Failed) and the kubelet-owned conditions
// (PodReadyToStartContainers, Initialized, Ready, ContainersReady,
// PodScheduled) with kubelet's reasons and messages.
//
// Nothing here touches the runtime or the clock: callers pass the observed
// container statuses and "now". The semantics follow the kubelet of
// Kubernetes 1.3x with its default feature gates, including restartable init
// containers (sidecars: init containers with restartPolicy Always).
package podstatus
