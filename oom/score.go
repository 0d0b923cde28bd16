// Package oom decides and applies the oom_score_adj of pod processes by QoS
// class, and tells OOM kills apart from other exits by reading the kernel's
// per-cgroup OOM kill counters.
package oom

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
)

// Kubelet's oom_score_adj policy values.
const (
	GuaranteedScore = -997
	BestEffortScore = 1000
	// minBurstable keeps a Burstable process less protected than a Guaranteed
	// one using all of the machine's memory (1000 + GuaranteedScore).
	minBurstable = 1000 + GuaranteedScore
	// maxBurstable keeps a Burstable process more protected than BestEffort.
	maxBurstable = BestEffortScore - 1
)

// Priority classes built into Kubernetes and the priorities the API server's
// priority admission gives them.
const (
	SystemNodeCritical            = "system-node-critical"
	SystemClusterCritical         = "system-cluster-critical"
	SystemCriticalPriority  int32 = 2000000000
	systemNodeCriticalValue int32 = SystemCriticalPriority + 1000
)

// Annotations kubelet uses to recognise static and mirror pods.
const (
	configSourceAnnotation = "kubernetes.io/config.source"
	configMirrorAnnotation = "kubernetes.io/config.mirror"
)

// PolicyScore returns kubelet's oom_score_adj for container c of pod, whose
// QoS class is qos, on a machine with memoryCapacity bytes (MemTotal):
//
//   - node-critical pods (see IsNodeCritical) and Guaranteed pods: -997;
//   - BestEffort pods: 1000;
//   - Burstable: 1000 - 1000*memoryRequest/memoryCapacity, where a sidecar
//     (an init container with restartPolicy Always) takes the lower of its
//     own value and the one of the regular container with the smallest
//     memory request, so sidecars are never killed before the app; then
//     clamped to [3, 999].
//
// The result may be below what this process may set: see Floor and Clamp.
func PolicyScore(pod *v1.Pod, c *v1.Container, qos v1.PodQOSClass, memoryCapacity int64) int {
	if IsNodeCritical(pod) {
		return GuaranteedScore
	}
	switch qos {
	case v1.PodQOSGuaranteed:
		return GuaranteedScore
	case v1.PodQOSBestEffort:
		return BestEffortScore
	}
	if memoryCapacity <= 0 {
		return maxBurstable
	}
	score := burstableScore(c.Resources.Requests.Memory().Value(), memoryCapacity)
	if isSidecar(pod, c) && len(pod.Spec.Containers) > 0 {
		if app := burstableScore(minRegularMemoryRequest(pod), memoryCapacity); score > app {
			score = app
		}
	}
	if score < minBurstable {
		return minBurstable
	}
	if score >= BestEffortScore {
		return maxBurstable
	}
	return int(score)
}

func burstableScore(request, capacity int64) int64 {
	return 1000 - (1000*request)/capacity
}

// isSidecar reports whether c is a restartable init container of pod.
func isSidecar(pod *v1.Pod, c *v1.Container) bool {
	if c.RestartPolicy == nil || *c.RestartPolicy != v1.ContainerRestartPolicyAlways {
		return false
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == c.Name {
			return true
		}
	}
	return false
}

// minRegularMemoryRequest is the smallest memory request (unset = 0) among
// the pod's regular containers.
func minRegularMemoryRequest(pod *v1.Pod) int64 {
	var low int64
	for i := range pod.Spec.Containers {
		v := pod.Spec.Containers[i].Resources.Requests.Memory().Value()
		if i == 0 || v < low {
			low = v
		}
	}
	return low
}

// IsNodeCritical is kubelet's rule for the pods protected like Guaranteed
// ones whatever their class: priorityClassName system-node-critical on a pod
// that is critical, that is a static or mirror pod or one whose priority is
// at least SystemCriticalPriority. A pod without spec.priority gets its
// class's built-in value, as the API server's priority admission would have
// set it.
func IsNodeCritical(pod *v1.Pod) bool {
	if pod.Spec.PriorityClassName != SystemNodeCritical {
		return false
	}
	if src, ok := pod.Annotations[configSourceAnnotation]; ok && src != "api" {
		return true
	}
	if _, ok := pod.Annotations[configMirrorAnnotation]; ok {
		return true
	}
	return Priority(pod) >= SystemCriticalPriority
}

// Priority is the pod's spec.priority, or for a pod without one the value
// of its built-in priority class (0 for any other class).
func Priority(pod *v1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	switch pod.Spec.PriorityClassName {
	case SystemNodeCritical:
		return systemNodeCriticalValue
	case SystemClusterCritical:
		return SystemCriticalPriority
	}
	return 0
}

// Floor is the lowest oom_score_adj this process may give its children:
// with CAP_SYS_RESOURCE (effective and in the bounding set, which the shim
// and runc inherit) any value down to -1000; without it a process can only
// keep or raise its own value, so the floor is this process's own
// oom_score_adj. It returns the floor and whether values are restricted.
// This is containerd's restrict_oom_score_adj rule.
func Floor() (int, bool) {
	if hasCapSysResource() {
		return -1000, false
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, true
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return 0, true
	}
	return v, true
}

// Clamp raises score to floor when it is lower.
func Clamp(score, floor int) int {
	if score < floor {
		return floor
	}
	return score
}

func hasCapSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	const bit = unix.CAP_SYS_RESOURCE
	if data[bit/32].Effective&(1<<(bit%32)) == 0 {
		return false
	}
	b, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(bit), 0, 0, 0)
	return err == nil && b == 1
}
