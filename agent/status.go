package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/api"
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

// containerStatus renders one container's status as the API shows it.
// defaultWaiting is the reason shown when it has never been started.
func (a *Agent) containerStatus(c *containerRecord, spec *v1.Container, regularInit bool, defaultWaiting string) v1.ContainerStatus {
	f := false
	cs := v1.ContainerStatus{Name: spec.Name, Image: spec.Image, Started: &f}
	if c == nil {
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: defaultWaiting}
		return cs
	}
	cs.RestartCount = c.RestartCount
	cur := c.Current
	if cur == nil {
		w := v1.ContainerStateWaiting{Reason: defaultWaiting}
		if c.Waiting != nil {
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
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: ReasonContainerCreating}
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

// buildPodLocked returns a copy of the pod with its status computed from the
// record, and stores the new conditions. The caller holds a.mu.
func (a *Agent) buildPodLocked(rec *podRecord) *v1.Pod {
	pod := rec.Pod.DeepCopy()
	pod.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
	now := metav1.NewTime(a.clock.Now())
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

	initialized := true
	for i := range pod.Spec.InitContainers {
		spec := &pod.Spec.InitContainers[i]
		c := rec.Containers[spec.Name]
		cs := a.containerStatus(c, spec, !isSidecar(spec), ReasonPodInitializing)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		done := c != nil && c.Current != nil && ((isSidecar(spec) && c.Current.running()) || (c.Current.Exited && c.Current.ExitCode == 0))
		if !done {
			initialized = false
		}
	}
	appWaiting := ReasonContainerCreating
	if !initialized {
		appWaiting = ReasonPodInitializing
	}
	hasStarted := false
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		c := rec.Containers[spec.Name]
		if c != nil && c.Current != nil {
			hasStarted = true
		}
		st.ContainerStatuses = append(st.ContainerStatuses, a.containerStatus(c, spec, false, appWaiting))
	}

	switch {
	case rec.Rejected:
		st.Phase = v1.PodFailed
	case rec.Terminal != "":
		st.Phase = rec.Terminal
	case !a.runtimeUp:
		st.Phase = v1.PodUnknown
	default:
		st.Phase = podstatus.Phase(pod, st.InitContainerStatuses, st.ContainerStatuses, false, hasStarted)
	}
	if rec.Rejected {
		rec.Conditions = nil
		st.ContainerStatuses, st.InitContainerStatuses = nil, nil
		return pod
	}
	sandboxReady := rec.Sandbox != nil && rec.Terminal == ""
	st.Conditions = podstatus.Conditions(pod, sandboxReady, rec.Conditions, now)
	if rec.Disruption != nil {
		st.Conditions = append([]v1.PodCondition{*rec.Disruption}, st.Conditions...)
	}
	rec.Conditions = st.Conditions
	return pod
}

// publish recomputes a pod's status and tells watchers when it changed.
func (a *Agent) publish(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.pods[uid]
	if rec == nil {
		return
	}
	pod := a.buildPodLocked(rec)
	old := a.published[uid]
	if old != nil && equality.Semantic.DeepEqual(old.Status, pod.Status) && equality.Semantic.DeepEqual(old.ObjectMeta, pod.ObjectMeta) {
		return
	}
	typ := "MODIFIED"
	if old == nil {
		typ = "ADDED"
	}
	a.published[uid] = pod
	a.notifyLocked(typ, pod)
}

// notifyLocked sends a watch event to every watcher of the pod's namespace
// without blocking; a watcher that cannot keep up is dropped.
func (a *Agent) notifyLocked(typ string, pod *v1.Pod) {
	for ch, ns := range a.watchers {
		if ns != "" && ns != pod.Namespace {
			continue
		}
		select {
		case ch <- api.WatchEvent{Type: typ, Pod: *pod.DeepCopy()}:
		default:
			close(ch)
			delete(a.watchers, ch)
		}
	}
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
