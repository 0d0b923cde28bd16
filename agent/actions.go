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
	// Replace lists running containers whose image in the spec changed
	// (an in-place update): they are stopped and started again at once.
	Replace []string
	// Remove lists runtime container IDs to delete: exited instances (their
	// shim and log process go with the task), instances that never started
	// and will be made again, and stale IDs.
	Remove []string
	// Waiting sets a waiting reason on containers that must not start yet.
	Waiting map[string]waiting
	// WakeAt is the earliest time a back-off or deadline ends (zero: none).
	WakeAt time.Time
	// Terminal is set when the pod reaches Succeeded or Failed now, with a
	// pod-level Reason and Message when there is one (DeadlineExceeded).
	Terminal        v1.PodPhase
	TerminalReason  string
	TerminalMessage string
	// Release: the pod is finished and nothing of it runs any more: give
	// back its sandbox, volumes and cgroup (records and logs stay).
	Release bool
	// Finish: the pod is deleted and nothing of it runs any more: remove
	// everything, records and logs included, and forget it.
	Finish bool
}

func (a *podActions) wait(name string, w waiting, until time.Time) {
	if a.Waiting == nil {
		a.Waiting = map[string]waiting{}
	}
	a.Waiting[name] = w
	a.wakeAt(until)
}

func (a *podActions) wakeAt(t time.Time) {
	if !t.IsZero() && (a.WakeAt.IsZero() || t.Before(a.WakeAt)) {
		a.WakeAt = t
	}
}

// Pod-level reason and message of a pod past its activeDeadlineSeconds, as kubelet writes them.
const (
	ReasonDeadlineExceeded  = "DeadlineExceeded"
	MessageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

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
	if c == nil {
		return true
	}
	// Image pull, create and start failures retry with their own back-off.
	if c.Waiting != nil && !c.FailedAt.IsZero() {
		if in, until := c.FailBackoff.inBackoffSince(c.FailedAt, now); in {
			w := *c.Waiting
			if w.Reason == ReasonErrImagePull && now.After(c.FailedAt) {
				image := ""
				if spec, _ := findContainer(pod, c.Name); spec != nil {
					image = spec.Image
				}
				// Kubelet's waiting message carries the last pull error.
				w = waiting{Reason: ReasonImagePullBackOff, Message: fmt.Sprintf("%s: %s: %s", pullBackOffMessage(image), ReasonErrImagePull, w.Message)}
			}
			a.wait(c.Name, w, until)
			return false
		}
	}
	// A restart after an exit waits for the crash-loop back-off, unless
	// the agent stopped it for a changed spec or the spec names another
	// image since (kubelet keys the back-off by the container's spec).
	if cur := c.Current; cur != nil && cur.Exited && !cur.Replaced && !imageChanged(pod, c.Name, cur) {
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
// containers (sidecars) only need to be running. Deleted, rejected and
// finished pods only stop, remove and release. The record is not changed.
func computePodActions(r *podRecord, now time.Time) podActions {
	var a podActions
	pod := r.Pod
	switch {
	case r.Deleting:
		a.stopAndRemove(r)
		a.Finish = len(a.Kill) == 0 && len(a.Remove) == 0
		return a
	case r.Rejected:
		a.stopAndRemove(r)
		return a
	case r.Terminal == "":
		if d := pod.Spec.ActiveDeadlineSeconds; d != nil && !r.StartTime.IsZero() {
			deadline := r.StartTime.Add(time.Duration(*d) * time.Second)
			if !now.Before(deadline) {
				a.Terminal, a.TerminalReason, a.TerminalMessage = v1.PodFailed, ReasonDeadlineExceeded, MessageDeadlineExceeded
			} else {
				a.wakeAt(deadline)
			}
		}
	}
	if r.Terminal != "" || a.Terminal != "" {
		a.stopAndRemove(r)
		a.Release = !r.Released && len(a.Kill) == 0 && len(a.Remove) == 0
		return a
	}
	// Exited instances give back their task, shim and log process at once;
	// the records keep what the status shows.
	for _, c := range r.Containers {
		for _, in := range []*instance{c.Current, c.Last} {
			if in != nil && in.Exited && !in.Removed {
				a.Remove = append(a.Remove, in.ID)
			}
		}
	}
	a.Remove = append(a.Remove, r.Stale...)
	if r.Sandbox == nil {
		a.CreateSandbox = true
	}
	a.Replace = changedImages(r)
	a.computeStarts(r, now)
	a.Remove = uniq(a.Remove)
	return a
}

// imageChanged tells whether the spec names another image than in ran.
func imageChanged(pod *v1.Pod, name string, in *instance) bool {
	spec, _ := findContainer(pod, name)
	return spec != nil && in.Image != "" && in.Image != spec.Image
}

// changedImages lists the running containers whose instance runs another
// image than the spec now names, as kubelet's containerChanged finds them.
func changedImages(r *podRecord) []string {
	var out []string
	for _, list := range [][]v1.Container{r.Pod.Spec.InitContainers, r.Pod.Spec.Containers} {
		for i := range list {
			if c := r.Containers[list[i].Name]; c != nil && c.Current.running() && imageChanged(r.Pod, list[i].Name, c.Current) {
				out = append(out, list[i].Name)
			}
		}
	}
	return out
}

// uniq drops repeated strings, keeping the first of each.
func uniq(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// stopAndRemove asks to stop every running container and to remove every
// runtime container the pod still holds.
func (a *podActions) stopAndRemove(r *podRecord) {
	for _, c := range r.Containers {
		if c.Current.running() {
			a.Kill = append(a.Kill, c.Name)
		}
		for _, in := range []*instance{c.Current, c.Last} {
			if in != nil && !in.Removed && !in.running() {
				a.Remove = append(a.Remove, in.ID)
			}
		}
	}
	a.Remove = append(a.Remove, r.Stale...)
}

// computeStarts decides which containers start next, or the pod's end.
func (a *podActions) computeStarts(r *podRecord, now time.Time) {
	pod := r.Pod
	policy := pod.Spec.RestartPolicy
	// Init containers, in order. An instance that never started counts as
	// none: it is made again.
	for i := range pod.Spec.InitContainers {
		spec := &pod.Spec.InitContainers[i]
		c := r.Containers[spec.Name]
		var cur *instance
		if c != nil && !c.Current.neverStarted() {
			cur = c.Current
		}
		if isSidecar(spec) {
			if cur == nil || cur.Exited {
				if canStart(a, pod, c, now) {
					a.Start = append(a.Start, spec.Name)
				}
				if cur == nil {
					return // the next init container waits until this one started
				}
			}
			continue
		}
		switch {
		case cur == nil, cur.Exited && cur.Replaced:
			if canStart(a, pod, c, now) {
				a.Start = append(a.Start, spec.Name)
			}
			return
		case !cur.Exited:
			return // running: wait for it
		case cur.ExitCode == 0:
			continue
		case policy == v1.RestartPolicyNever:
			a.Terminal = v1.PodFailed
			a.stopAndRemove(r)
			return
		default:
			if canStart(a, pod, c, now) {
				a.Start = append(a.Start, spec.Name)
			}
			return
		}
	}

	// App containers.
	active := false
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		c := r.Containers[spec.Name]
		if c == nil || c.Current == nil || c.Current.neverStarted() {
			active = true
			if canStart(a, pod, c, now) {
				a.Start = append(a.Start, spec.Name)
			}
			continue
		}
		cur := c.Current
		if !cur.Exited {
			active = true
			continue
		}
		if shouldRestart(policy, cur.ExitCode) || cur.Replaced {
			active = true
			if canStart(a, pod, c, now) {
				a.Start = append(a.Start, spec.Name)
			}
		}
	}
	if active {
		return
	}
	a.Terminal = v1.PodSucceeded
	for i := range pod.Spec.Containers {
		if c := r.Containers[pod.Spec.Containers[i].Name]; c.Current.ExitCode != 0 {
			a.Terminal = v1.PodFailed
		}
	}
	// Sidecars are stopped once the pod's regular containers are done.
	a.Start = nil
	a.stopAndRemove(r)
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
	ReasonRunContainerError          = "RunContainerError"
)
