package cli

import (
	"fmt"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// podColumns and podWideColumns are the headers of `get pods`.
var (
	podColumns     = []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}
	podWideColumns = []string{"IP", "NODE", "NOMINATED NODE", "READINESS GATES"}
)

// since formats the time from t to now like kubectl's AGE column.
func since(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func isSidecar(c *v1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// podRow computes the cells of one `get pods` line the way kubectl's pod
// printer does: READY counts ready app containers (and started sidecars),
// STATUS is the most telling reason (init progress, waiting/terminated
// reasons, Terminating), RESTARTS adds "(age ago)" of the last restart.
func podRow(pod *v1.Pod, now time.Time, wide bool) []string {
	restarts, sidecarRestarts := 0, 0
	total := len(pod.Spec.Containers)
	ready := 0
	var lastRestart, lastSidecarRestart time.Time

	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled && c.Reason == v1.PodReasonSchedulingGated {
			reason = v1.PodReasonSchedulingGated
		}
	}

	inits := map[string]*v1.Container{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		inits[c.Name] = c
		if isSidecar(c) {
			total++
		}
	}
	later := func(cur time.Time, st v1.ContainerStatus) time.Time {
		if t := st.LastTerminationState.Terminated; t != nil && t.FinishedAt.Time.After(cur) {
			return t.FinishedAt.Time
		}
		return cur
	}

	initializing := false
	for i, st := range pod.Status.InitContainerStatuses {
		restarts += int(st.RestartCount)
		lastRestart = later(lastRestart, st)
		sidecar := isSidecar(inits[st.Name])
		if sidecar {
			sidecarRestarts += int(st.RestartCount)
			lastSidecarRestart = later(lastSidecarRestart, st)
		}
		term, wait := st.State.Terminated, st.State.Waiting
		switch {
		case term != nil && term.ExitCode == 0:
			continue
		case sidecar && st.Started != nil && *st.Started:
			if st.Ready {
				ready++
			}
			continue
		case term != nil:
			switch {
			case term.Reason != "":
				reason = "Init:" + term.Reason
			case term.Signal != 0:
				reason = fmt.Sprintf("Init:Signal:%d", term.Signal)
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", term.ExitCode)
			}
		case wait != nil && wait.Reason != "" && wait.Reason != "PodInitializing":
			reason = "Init:" + wait.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podInitialized(pod) {
		restarts, lastRestart = sidecarRestarts, lastSidecarRestart
		hasRunning := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			st := pod.Status.ContainerStatuses[i]
			restarts += int(st.RestartCount)
			lastRestart = later(lastRestart, st)
			switch {
			case st.State.Waiting != nil && st.State.Waiting.Reason != "":
				reason = st.State.Waiting.Reason
			case st.State.Terminated != nil && st.State.Terminated.Reason != "":
				reason = st.State.Terminated.Reason
			case st.State.Terminated != nil && st.State.Terminated.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", st.State.Terminated.Signal)
			case st.State.Terminated != nil:
				reason = fmt.Sprintf("ExitCode:%d", st.State.Terminated.ExitCode)
			case st.Ready && st.State.Running != nil:
				hasRunning = true
				ready++
			}
		}
		// A completed container next to one still running: the pod runs.
		if reason == "Completed" && hasRunning {
			reason = "NotReady"
			if podConditionTrue(pod, v1.PodReady) {
				reason = "Running"
			}
		}
	}

	terminal := pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
	if pod.DeletionTimestamp != nil && pod.Status.Reason == "NodeLost" {
		reason = "Unknown"
	} else if pod.DeletionTimestamp != nil && !terminal {
		reason = "Terminating"
	}

	restartText := strconv.Itoa(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartText = fmt.Sprintf("%d (%s ago)", restarts, duration.HumanDuration(now.Sub(lastRestart)))
	}
	row := []string{pod.Name, fmt.Sprintf("%d/%d", ready, total), reason, restartText, since(pod.CreationTimestamp, now)}
	if !wide {
		return row
	}
	ip := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	gates := "<none>"
	if n := len(pod.Spec.ReadinessGates); n > 0 {
		ok := 0
		for _, g := range pod.Spec.ReadinessGates {
			if podConditionTrue(pod, g.ConditionType) {
				ok++
			}
		}
		gates = fmt.Sprintf("%d/%d", ok, n)
	}
	return append(row, orNone(ip), orNone(pod.Spec.NodeName), orNone(pod.Status.NominatedNodeName), gates)
}

func podInitialized(pod *v1.Pod) bool { return podConditionTrue(pod, v1.PodInitialized) }

func podConditionTrue(pod *v1.Pod, t v1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
