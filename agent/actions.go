package agent

import (
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
)

// podActions is what one sync of a pod must do, computed from the pod's
// spec and observed state by computePodActions.
type podActions struct {
	// CreateSandbox: the pod's namespaces do not exist yet.
	CreateSandbox bool
	// Start lists containers to start now, in order.
	Start []string
	// Kill lists running containers to stop (e.g. sidecars of a finished pod).
	Kill []string
	// Waiting sets a waiting reason on containers that must not start yet.
	Waiting map[string]waiting
	// WakeAt is the earliest time a back-off ends (zero: none).
	WakeAt time.Time
	// Terminal is set when the pod has reached Succeeded or Failed now.
	Terminal v1.PodPhase
}

func (a *podActions) wait(name string, w waiting, until time.Time) {
	if a.Waiting == nil {
		a.Waiting = map[string]waiting{}
	}
	a.Waiting[name] = w
	if !until.IsZero() && (a.WakeAt.IsZero() || until.Before(a.WakeAt)) {
		a.WakeAt = until
	}
}

// podFullName is kubelet's name_namespace(uid) form used in messages.
func podFullName(p *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", p.Name, p.Namespace, p.UID)
}

// shouldRestart applies a restart policy to an exited instance.
func shouldRestart(policy v1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case v1.RestartPolicyAlways:
		return true
	case v1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return false
}

// canStart decides whether container c may (re)start at now, given its back-off
// state; if not, it records why on a and returns false.
func canStart(a *podActions, pod *v1.Pod, c *containerRecord, now time.Time) bool {
	// Image pull and create failures retry with their own back-off.
	if c.Waiting != nil && !c.FailedAt.IsZero() {
		if in, until := c.FailBackoff.inBackoffSince(c.FailedAt, now); in {
			w := *c.Waiting
			if (w.Reason == ReasonErrImagePull && now.After(c.FailedAt)) || w.Reason == ReasonImagePullBackOff {
				image := ""
				if spec, _ := findContainer(pod, c.Name); spec != nil {
					image = spec.Image
				}
				w = waiting{Reason: ReasonImagePullBackOff, Message: fmt.Sprintf("Back-off pulling image %q", image)}
			}
			a.wait(c.Name, w, until)
			return false
		}
	}
	// A restart after an exit waits for the crash-loop back-off.
	if cur := c.Current; cur != nil && cur.Exited {
		if in, until := c.Backoff.inBackoffSince(cur.FinishedAt, now); in {
			a.wait(c.Name, waiting{
				Reason:  ReasonCrashLoopBackOff,
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", c.Backoff.Delay, c.Name, podFullName(pod)),
			}, until)
			return false
		}
	}
	return true
}

// computePodActions is the pure heart of the pod worker: from the pod's
// spec and its observed containers it decides the next step, the way
// kubelet's computePodActions does. Init containers run one at a time in
// order, each to a zero exit, before any app container; restartable init
// containers (sidecars) only need to be running. The record is not changed.
func computePodActions(r *podRecord, now time.Time) podActions {
	var a podActions
	pod := r.Pod
	if r.Terminal != "" || r.Rejected {
		for _, c := range r.Containers {
			if c.Current.running() {
				a.Kill = append(a.Kill, c.Name)
			}
		}
		return a
	}
	if r.Sandbox == nil {
		a.CreateSandbox = true
	}
	policy := pod.Spec.RestartPolicy

	// Init containers, in order.
	for i := range pod.Spec.InitContainers {
		spec := &pod.Spec.InitContainers[i]
		c := r.Containers[spec.Name]
		var cur *instance
		if c != nil {
			cur = c.Current
		}
		if isSidecar(spec) {
			switch {
			case cur == nil || cur.Exited:
				if c != nil && canStart(&a, pod, c, now) || c == nil {
					a.Start = append(a.Start, spec.Name)
				}
				if cur == nil {
					return a // the next init container waits until this one started
				}
			}
			continue
		}
		switch {
		case cur == nil:
			if c == nil || canStart(&a, pod, c, now) {
				a.Start = append(a.Start, spec.Name)
			}
			return a
		case !cur.Exited:
			return a // running: wait for it
		case cur.ExitCode == 0:
			continue
		case policy == v1.RestartPolicyNever:
			a.Terminal = v1.PodFailed
			return a
		default:
			if canStart(&a, pod, c, now) {
				a.Start = append(a.Start, spec.Name)
			}
			return a
		}
	}

	// App containers.
	active := false
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		c := r.Containers[spec.Name]
		if c == nil || c.Current == nil {
			active = true
			if c == nil || canStart(&a, pod, c, now) {
				a.Start = append(a.Start, spec.Name)
			}
			continue
		}
		cur := c.Current
		if !cur.Exited {
			active = true
			continue
		}
		if shouldRestart(policy, cur.ExitCode) {
			active = true
			if canStart(&a, pod, c, now) {
				a.Start = append(a.Start, spec.Name)
			}
		}
	}
	if !active {
		a.Terminal = v1.PodSucceeded
		for i := range pod.Spec.Containers {
			if c := r.Containers[pod.Spec.Containers[i].Name]; c.Current.ExitCode != 0 {
				a.Terminal = v1.PodFailed
			}
		}
		// Sidecars are stopped once the pod's regular containers are done.
		for i := range pod.Spec.InitContainers {
			if c := r.Containers[pod.Spec.InitContainers[i].Name]; c != nil && c.Current.running() {
				a.Kill = append(a.Kill, c.Name)
			}
		}
	}
	return a
}

// Waiting reasons as kubelet writes them.
const (
	ReasonContainerCreating          = "ContainerCreating"
	ReasonPodInitializing            = "PodInitializing"
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonErrImagePull               = "ErrImagePull"
	ReasonImagePullBackOff           = "ImagePullBackOff"
	ReasonErrImageNeverPull          = "ErrImageNeverPull"
	ReasonInvalidImageName           = "InvalidImageName"
	ReasonCreateContainerError       = "CreateContainerError"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
)
