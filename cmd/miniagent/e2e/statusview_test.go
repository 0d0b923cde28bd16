package e2e

// Small helpers of the status rules (statuscheck_test.go): look-ups in a pod
// and the one-line views a violation shows.

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
)

func stateName(s *v1.ContainerState) string {
	switch {
	case s.Terminated != nil:
		return "terminated"
	case s.Running != nil:
		return "running"
	case s.Waiting != nil && s.Waiting.Reason == "":
		return "waiting (created)"
	case s.Waiting != nil:
		return "waiting " + s.Waiting.Reason
	}
	return "no state"
}

func countStates(s v1.ContainerState) int {
	n := 0
	for _, set := range []bool{s.Waiting != nil, s.Running != nil, s.Terminated != nil} {
		if set {
			n++
		}
	}
	return n
}

func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

func isTrue(b *bool) bool { return b != nil && *b }

// findSpec returns the container called name and whether it is an init container.
func findSpec(pod *v1.Pod, name string) (*v1.Container, bool) {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], true
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], false
		}
	}
	return nil, false
}

func findStatus(list []v1.ContainerStatus, name string) *v1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func findCondition(list []v1.PodCondition, t v1.PodConditionType) *v1.PodCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}

func conditionTrue(list []v1.PodCondition, t v1.PodConditionType) bool {
	c := findCondition(list, t)
	return c != nil && c.Status == v1.ConditionTrue
}

// anyAppStarted is kubelet's HasAnyRegularContainerStarted: once an app
// container ran, the pod counts as initialized even while sidecars restart.
func anyAppStarted(st *v1.PodStatus) bool {
	for _, cs := range st.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			return true
		}
	}
	return false
}

func sameNames(spec []v1.Container, list []v1.ContainerStatus) bool {
	if len(spec) != len(list) {
		return false
	}
	for _, c := range spec {
		if findStatus(list, c.Name) == nil {
			return false
		}
	}
	return true
}

// containerView is a container status as one line of JSON, without the
// image fields and with short container IDs.
func containerView(cs *v1.ContainerStatus) string {
	view := struct {
		Name         string             `json:"name"`
		State        v1.ContainerState  `json:"state"`
		LastState    *v1.ContainerState `json:"lastState,omitempty"`
		Ready        bool               `json:"ready"`
		Started      *bool              `json:"started,omitempty"`
		RestartCount int32              `json:"restartCount"`
		ContainerID  string             `json:"containerID,omitempty"`
	}{cs.Name, *cs.State.DeepCopy(), nil, cs.Ready, cs.Started, cs.RestartCount, shortID(cs.ContainerID)}
	if countStates(cs.LastTerminationState) > 0 {
		view.LastState = cs.LastTerminationState.DeepCopy()
	}
	for _, t := range []*v1.ContainerStateTerminated{view.State.Terminated, lastTerminated(view.LastState)} {
		if t != nil {
			t.ContainerID = shortID(t.ContainerID)
		}
	}
	b, err := json.Marshal(view)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func lastTerminated(s *v1.ContainerState) *v1.ContainerStateTerminated {
	if s == nil {
		return nil
	}
	return s.Terminated
}

// podView is the pod-level part of a status on one line.
func podView(pod *v1.Pod) string {
	st := &pod.Status
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s", st.Phase)
	if st.Reason != "" {
		fmt.Fprintf(&b, " reason=%s", st.Reason)
	}
	if st.StartTime != nil {
		fmt.Fprintf(&b, " startTime=%s", st.StartTime.UTC().Format("15:04:05"))
	}
	b.WriteString(" conditions=[")
	for i, c := range st.Conditions {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%s@%s", c.Type, c.Status, c.LastTransitionTime.UTC().Format("15:04:05"))
	}
	b.WriteString("] containers=[")
	all := append(append([]v1.ContainerStatus(nil), st.InitContainerStatuses...), st.ContainerStatuses...)
	for i, cs := range all {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%s ready=%t started=%t restarts=%d", cs.Name, stateName(&cs.State), cs.Ready, isTrue(cs.Started), cs.RestartCount)
	}
	b.WriteString("]")
	return b.String()
}

// shortID keeps the runtime prefix and 12 characters of a container ID.
func shortID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 && len(id) > i+3+12 {
		return id[:i+3+12]
	}
	return id
}
