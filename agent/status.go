package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/miniagent/miniagent/agent/podstatus"
	"github.com/miniagent/miniagent/cgroups"
	"github.com/miniagent/miniagent/oom"
)

func itoa(i int) string { return strconv.Itoa(i) }

func mtime(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.NewTime(t)
}

// terminatedState is the API form of an exited instance.
func terminatedState(in *instance) *v1.ContainerStateTerminated {
	reason := in.Reason
	if reason == "" {
		switch {
		case in.OOMKilled:
			reason = "OOMKilled"
		case in.ExitCode == 0:
			reason = "Completed"
		default:
			reason = "Error"
		}
	}
	return &v1.ContainerStateTerminated{
		ExitCode: in.ExitCode, Reason: reason, Message: in.Message,
		StartedAt: mtime(in.StartedAt), FinishedAt: mtime(in.FinishedAt),
		ContainerID: "containerd://" + in.ID,
	}
}

// containerStatus renders one container's status as the API shows it, by
// kubelet's rules. defaultWaiting is the reason shown while it has never
// been created: PodInitializing in a pod with init containers, else
// ContainerCreating.
func (a *Agent) containerStatus(c *containerRecord, spec *v1.Container, regularInit bool, defaultWaiting string) v1.ContainerStatus {
	f := false
	cs := v1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: &f}
	var cur *instance
	if c != nil {
		cs.RestartCount = c.RestartCount
		cur = c.Current
	}
	if cur == nil {
		w := v1.ContainerStateWaiting{Reason: defaultWaiting}
		if c != nil && c.Waiting != nil {
			w = v1.ContainerStateWaiting{Reason: c.Waiting.Reason, Message: c.Waiting.Message}
		}
		cs.State.Waiting = &w
		return cs
	}
	cs.ContainerID = "containerd://" + cur.ID
	cs.Image = cur.ImageRef
	cs.ImageID = cur.ImageID
	if c.Last != nil && c.Last.Exited {
		cs.LastTerminationState.Terminated = terminatedState(c.Last)
	}
	switch {
	case cur.running():
		cs.State.Running = &v1.ContainerStateRunning{StartedAt: mtime(cur.StartedAt)}
		ready, started := a.probeState(cur.ID)
		if regularInit {
			ready, started = false, true // ready only once completed
		}
		cs.Ready, cs.Started = ready, &started
	case cur.Exited && c.Waiting != nil:
		// Waiting to restart: the dead instance is the last state.
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: c.Waiting.Reason, Message: c.Waiting.Message}
		cs.LastTerminationState = v1.ContainerState{Terminated: terminatedState(cur)}
	case cur.Exited:
		cs.State.Terminated = terminatedState(cur)
		// A regular init container is ready once it completed (kubelet's prober manager).
		cs.Ready = regularInit && cur.ExitCode == 0
	default:
		// Created, not started yet: kubelet shows waiting with no reason,
		// or the reason the last start failed.
		w := v1.ContainerStateWaiting{}
		if c.Waiting != nil {
			w = v1.ContainerStateWaiting{Reason: c.Waiting.Reason, Message: c.Waiting.Message}
		}
		cs.State.Waiting = &w
	}
	return cs
}

// probeState is a running container's readiness and startup result. Until
// the prober is wired in, a running container is started and ready.
func (a *Agent) probeState(containerID string) (ready, started bool) {
	if a.prober != nil {
		return a.prober.Ready(containerID), a.prober.Started(containerID)
	}
	return true, true
}

// renderPod returns a copy of the pod with its status computed from the
// record, the prober's results and whether the runtime answers. It changes
// nothing: the worker keeps the conditions it returns.
func (a *Agent) renderPod(rec *podRecord, runtimeUp bool, at time.Time) *v1.Pod {
	pod := rec.Pod.DeepCopy()
	pod.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
	now := metav1.NewTime(at)
	st := &pod.Status
	st.QOSClass = cgroups.QOSClass(pod)
	st.HostIP = a.node.hostIP
	st.HostIPs = []v1.HostIP{{IP: a.node.hostIP}}
	if pod.Spec.HostNetwork {
		st.PodIP = a.node.hostIP
		st.PodIPs = []v1.PodIP{{IP: a.node.hostIP}}
	}
	if !rec.StartTime.IsZero() {
		t := metav1.NewTime(rec.StartTime)
		st.StartTime = &t
	}
	st.Reason, st.Message = rec.Reason, rec.Message
	a.annotateOOMScores(pod)
	if rec.Rejected {
		st.Phase = v1.PodFailed
		return pod
	}

	defaultWaiting := ReasonContainerCreating
	if len(pod.Spec.InitContainers) > 0 {
		defaultWaiting = ReasonPodInitializing
	}
	for i := range pod.Spec.InitContainers {
		spec := &pod.Spec.InitContainers[i]
		st.InitContainerStatuses = append(st.InitContainerStatuses,
			a.containerStatus(rec.Containers[spec.Name], spec, !isSidecar(spec), defaultWaiting))
	}
	hasStarted := false
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		c := rec.Containers[spec.Name]
		if c != nil && (c.Current.hasRun() || c.Last != nil) {
			hasStarted = true
		}
		st.ContainerStatuses = append(st.ContainerStatuses, a.containerStatus(c, spec, false, defaultWaiting))
	}

	final := false // the pod ended: kubelet's TerminatePod applies
	switch {
	case rec.Terminal != "" && !rec.anyRunning():
		// As kubelet, a terminal phase is shown once no container runs.
		st.Phase = rec.Terminal
		final = true
	case !runtimeUp:
		st.Phase = v1.PodUnknown
	case rec.Deleting && rec.Released:
		// Deleted and nothing of it left: the kubelet's terminal phase
		// (Succeeded if every container succeeded); a pod deleted before
		// its containers ran ends Failed, as the kubelet ends it. Static
		// pods keep their phase, as in the kubelet.
		st.Phase = podstatus.Phase(pod, st.InitContainerStatuses, st.ContainerStatuses, true, hasStarted)
		if !podstatus.IsTerminal(st.Phase) && !podstatus.IsStaticPod(pod) {
			st.Phase = v1.PodFailed
		}
		final = true
	default:
		st.Phase = podstatus.Phase(pod, st.InitContainerStatuses, st.ContainerStatuses, false, hasStarted)
		if rec.Terminal == "" && podstatus.IsTerminal(st.Phase) {
			// The worker has not decided the pod's end yet.
			st.Phase = v1.PodRunning
		}
	}
	if final {
		// Containers that never ran (or whose end is unknown) end as
		// ContainerStatusUnknown, exit code 137, not waiting.
		podstatus.TerminateContainers(pod, st)
	}
	sandboxReady := rec.Sandbox != nil && rec.Terminal == "" && !rec.Deleting
	st.Conditions = podstatus.Conditions(pod, sandboxReady, rec.Conditions, now)
	if rec.Disruption != nil {
		st.Conditions = append([]v1.PodCondition{*rec.Disruption}, st.Conditions...)
	}
	return pod
}

// readiness is what the prober tells about running containers.
type readiness interface {
	Ready(containerID string) bool
	Started(containerID string) bool
}

// OOMScoreAnnotation shows, when the agent may not lower oom_score_adj as
// far as kubelet's policy asks, the intended and the applied value of each
// container.
const OOMScoreAnnotation = "miniagent.io/oom-score-adj"

func (a *Agent) annotateOOMScores(pod *v1.Pod) {
	if !a.node.oomRestricted {
		return
	}
	qos := cgroups.QOSClass(pod)
	var parts []string
	add := func(cs []v1.Container) {
		for i := range cs {
			want := oom.PolicyScore(pod, &cs[i], qos, a.node.memoryCapacity)
			if got := oom.Clamp(want, a.node.oomFloor); got != want {
				parts = append(parts, fmt.Sprintf("%s: intended %d, applied %d", cs[i].Name, want, got))
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	if len(parts) == 0 {
		return
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[OOMScoreAnnotation] = strings.Join(parts, "; ") + " (no CAP_SYS_RESOURCE: values below the agent's own are raised to it)"
}
