package podstatus

import (
	v1 "k8s.io/api/core/v1"
)

// ConfigSourceAnnotation is the annotation kubelet puts on pods to say where
// they came from ("file", "http" or "api"). Pods whose source is anything but
// "api" are static pods.
const ConfigSourceAnnotation = "kubernetes.io/config.source"

// IsTerminal reports whether phase is Succeeded or Failed. Kubelet never moves
// a pod out of a terminal phase.
func IsTerminal(phase v1.PodPhase) bool {
	return phase == v1.PodSucceeded || phase == v1.PodFailed
}

// KeepTerminal returns prev when it is terminal and next otherwise: once a pod
// reached Succeeded or Failed, a newly computed phase cannot replace it.
func KeepTerminal(prev, next v1.PodPhase) v1.PodPhase {
	if IsTerminal(prev) {
		return prev
	}
	return next
}

// IsRestartableInitContainer reports whether c is a sidecar: an init
// container with restartPolicy Always.
func IsRestartableInitContainer(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

// IsStaticPod reports whether the pod carries a config source annotation
// other than "api" (kubelet's definition of a static pod).
func IsStaticPod(pod *v1.Pod) bool {
	src, ok := pod.Annotations[ConfigSourceAnnotation]
	return ok && src != "api"
}

// FindStatus returns the status named name from statuses.
func FindStatus(statuses []v1.ContainerStatus, name string) (v1.ContainerStatus, bool) {
	for i := range statuses {
		if statuses[i].Name == name {
			return statuses[i], true
		}
	}
	return v1.ContainerStatus{}, false
}

// HasAnyRegularContainerStarted reports whether any regular (non-init)
// container of spec is running or has terminated according to statuses,
// which proves the pod has been initialized before.
func HasAnyRegularContainerStarted(spec *v1.PodSpec, statuses []v1.ContainerStatus) bool {
	for i := range spec.Containers {
		st, ok := FindStatus(statuses, spec.Containers[i].Name)
		if ok && (st.State.Running != nil || st.State.Terminated != nil) {
			return true
		}
	}
	return false
}

func isTrue(b *bool) bool { return b != nil && *b }

// phaseCounts tallies the containers the way kubelet does to pick a phase.
type phaseCounts struct {
	pendingInit      int // regular init containers not yet completed
	pendingSidecar   int // sidecars not yet started
	failedInit       int // regular init containers whose last run failed
	unknown, running int
	waiting, stopped int
	succeeded        int
}

func countInit(spec *v1.PodSpec, initStatuses []v1.ContainerStatus, n *phaseCounts) {
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		st, ok := FindStatus(initStatuses, c.Name)
		if IsRestartableInitContainer(c) {
			switch {
			case !ok:
				n.unknown++
			case st.State.Running != nil:
				if !isTrue(st.Started) {
					n.pendingSidecar++
				}
				n.running++
			case st.State.Terminated != nil:
				// A stopped sidecar does not count towards the phase.
			case st.State.Waiting != nil:
				if st.LastTerminationState.Terminated == nil {
					n.pendingSidecar++
					n.waiting++
				}
			default:
				n.pendingSidecar++
				n.unknown++
			}
			continue
		}
		switch {
		case !ok, st.State.Running != nil:
			n.pendingInit++
		case st.State.Terminated != nil:
			if st.State.Terminated.ExitCode != 0 {
				n.failedInit++
			}
		case st.State.Waiting != nil:
			if last := st.LastTerminationState.Terminated; last != nil {
				if last.ExitCode != 0 {
					n.failedInit++
				}
			} else {
				n.pendingInit++
			}
		default:
			n.pendingInit++
		}
	}
}

func countRegular(spec *v1.PodSpec, statuses []v1.ContainerStatus, n *phaseCounts) {
	for i := range spec.Containers {
		st, ok := FindStatus(statuses, spec.Containers[i].Name)
		switch {
		case !ok:
			n.unknown++
		case st.State.Running != nil:
			n.running++
		case st.State.Terminated != nil:
			n.stopped++
			if st.State.Terminated.ExitCode == 0 {
				n.succeeded++
			}
		case st.State.Waiting != nil:
			if st.LastTerminationState.Terminated != nil {
				n.stopped++
			} else {
				n.waiting++
			}
		default:
			n.unknown++
		}
	}
}

// Phase computes the pod phase as kubelet does (Pending, Running, Succeeded or
// Failed; Unknown is for the caller to decide).
//
//   - initStatuses are the statuses of pod.Spec.InitContainers (sidecars
//     included), statuses those of pod.Spec.Containers, matched by name; a
//     container without a status counts as unknown.
//   - podIsTerminal: the pod has been stopped for good (deleted, or all its
//     containers are done and will not be restarted) so its containers will not
//     run again whatever the restart policy. Static pods ignore it, like in
//     kubelet.
//   - podHasInitialized: a regular container has already been created for the
//     pod's current sandbox (it has run past initialization). It keeps a pod
//     whose sidecar is restarting from falling back to Pending.
//
// An empty restartPolicy is taken as Always, the API default. The result is
// not sticky: use KeepTerminal to never leave Succeeded/Failed.
func Phase(pod *v1.Pod, initStatuses, statuses []v1.ContainerStatus, podIsTerminal, podHasInitialized bool) v1.PodPhase {
	spec := &pod.Spec
	var n phaseCounts
	countInit(spec, initStatuses, &n)
	countRegular(spec, statuses, &n)

	policy := spec.RestartPolicy
	if policy == "" {
		policy = v1.RestartPolicyAlways // the API default
	}
	if n.failedInit > 0 && policy == v1.RestartPolicyNever {
		return v1.PodFailed
	}
	switch {
	case n.pendingInit > 0, n.pendingSidecar > 0 && !podHasInitialized, n.waiting > 0:
		return v1.PodPending
	case n.running > 0 && n.unknown == 0:
		return v1.PodRunning
	case n.running == 0 && n.stopped > 0 && n.unknown == 0:
		if podIsTerminal && !IsStaticPod(pod) {
			if n.stopped == n.succeeded {
				return v1.PodSucceeded
			}
			return v1.PodFailed
		}
		switch {
		case policy == v1.RestartPolicyAlways:
			return v1.PodRunning // everything is on its way to a restart
		case n.stopped == n.succeeded:
			return v1.PodSucceeded
		case policy == v1.RestartPolicyNever:
			return v1.PodFailed
		default:
			return v1.PodRunning // OnFailure: the failed ones will restart
		}
	default:
		return v1.PodPending
	}
}
