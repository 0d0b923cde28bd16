package podstatus

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons kubelet puts on the conditions it owns.
const (
	ReasonUnknownContainerStatuses = "UnknownContainerStatuses"
	ReasonPodCompleted             = "PodCompleted"
	ReasonPodFailed                = "PodFailed"
	ReasonContainersNotReady       = "ContainersNotReady"
	ReasonContainersNotInitialized = "ContainersNotInitialized"
)

// Conditions computes the kubelet-owned pod conditions, in the order kubelet
// writes them: PodReadyToStartContainers, Initialized, Ready, ContainersReady,
// PodScheduled.
//
// pod must carry its spec and the status computed so far: Phase,
// InitContainerStatuses and ContainerStatuses (with Ready and Started decided
// by the caller). sandboxReady tells whether the pod's sandbox exists and is
// usable. Each condition keeps the LastTransitionTime of the same type in old
// when its Status did not change, and gets now otherwise. Readiness gates are
// not supported and count as none.
func Conditions(pod *v1.Pod, sandboxReady bool, old []v1.PodCondition, now metav1.Time) []v1.PodCondition {
	containersReady := containersReadyCondition(pod)
	ready := containersReady
	ready.Type = v1.PodReady
	conds := []v1.PodCondition{
		readyToStartCondition(sandboxReady),
		initializedCondition(pod),
		ready,
		containersReady,
		{Type: v1.PodScheduled, Status: v1.ConditionTrue},
	}
	for i := range conds {
		conds[i].LastTransitionTime = now
		if prev := FindCondition(old, conds[i].Type); prev != nil && prev.Status == conds[i].Status {
			conds[i].LastTransitionTime = prev.LastTransitionTime
		}
	}
	return conds
}

// FindCondition returns the condition of type t in conds, or nil.
func FindCondition(conds []v1.PodCondition, t v1.PodConditionType) *v1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func readyToStartCondition(sandboxReady bool) v1.PodCondition {
	c := v1.PodCondition{Type: v1.PodReadyToStartContainers, Status: v1.ConditionFalse}
	if sandboxReady {
		c.Status = v1.ConditionTrue
	}
	return c
}

// notReadyMessage joins kubelet's "containers with unknown status: [..]" and
// "containers with <what> status: [..]" parts.
func notReadyMessage(unknown []string, what string, names []string) string {
	var parts []string
	if len(unknown) > 0 {
		parts = append(parts, fmt.Sprintf("containers with unknown status: %v", unknown))
	}
	if len(names) > 0 {
		parts = append(parts, fmt.Sprintf("containers with %s status: %v", what, names))
	}
	return strings.Join(parts, ", ")
}

func noStatuses(st *v1.PodStatus) bool {
	return len(st.InitContainerStatuses) == 0 && len(st.ContainerStatuses) == 0
}

// containersReadyCondition: sidecars and regular containers must all be ready.
func containersReadyCondition(pod *v1.Pod) v1.PodCondition {
	c := v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse}
	st := &pod.Status
	if noStatuses(st) {
		c.Reason = ReasonUnknownContainerStatuses
		return c
	}
	var unknown, unready []string
	check := func(name string, statuses []v1.ContainerStatus) {
		cs, ok := FindStatus(statuses, name)
		switch {
		case !ok:
			unknown = append(unknown, name)
		case !cs.Ready:
			unready = append(unready, name)
		}
	}
	for i := range pod.Spec.InitContainers {
		if IsRestartableInitContainer(&pod.Spec.InitContainers[i]) {
			check(pod.Spec.InitContainers[i].Name, st.InitContainerStatuses)
		}
	}
	for i := range pod.Spec.Containers {
		check(pod.Spec.Containers[i].Name, st.ContainerStatuses)
	}
	switch {
	case st.Phase == v1.PodSucceeded && len(unknown) == 0:
		c.Reason = ReasonPodCompleted
		return c
	case st.Phase == v1.PodFailed:
		c.Reason = ReasonPodFailed
		return c
	}
	if msg := notReadyMessage(unknown, "unready", unready); msg != "" {
		c.Reason = ReasonContainersNotReady
		c.Message = msg
		return c
	}
	c.Status = v1.ConditionTrue
	return c
}

// initContainerDone: a sidecar counts once started; a regular init container
// once it is ready, which kubelet sets when it completed (exit code 0).
func initContainerDone(c *v1.Container, cs *v1.ContainerStatus) bool {
	if IsRestartableInitContainer(c) {
		return isTrue(cs.Started)
	}
	if cs.Ready {
		return true
	}
	t := cs.State.Terminated
	return t != nil && t.ExitCode == 0
}

func initializedCondition(pod *v1.Pod) v1.PodCondition {
	c := v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionFalse}
	st := &pod.Status
	if noStatuses(st) && len(pod.Spec.InitContainers) > 0 {
		c.Reason = ReasonUnknownContainerStatuses
		return c
	}
	var unknown, incomplete []string
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		cs, ok := FindStatus(st.InitContainerStatuses, ic.Name)
		switch {
		case !ok:
			unknown = append(unknown, ic.Name)
		case !initContainerDone(ic, &cs):
			incomplete = append(incomplete, ic.Name)
		}
	}
	if st.Phase == v1.PodSucceeded && len(unknown) == 0 {
		c.Status = v1.ConditionTrue
		c.Reason = ReasonPodCompleted
		return c
	}
	// A regular container that ran proves initialization finished before,
	// even while a sidecar restarts.
	if HasAnyRegularContainerStarted(&pod.Spec, st.ContainerStatuses) {
		c.Status = v1.ConditionTrue
		return c
	}
	if msg := notReadyMessage(unknown, "incomplete", incomplete); msg != "" {
		c.Reason = ReasonContainersNotInitialized
		c.Message = msg
		return c
	}
	c.Status = v1.ConditionTrue
	return c
}
