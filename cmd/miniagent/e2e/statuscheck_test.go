package e2e

// The rules below are what kubelet (1.3x) guarantees about every pod status
// it publishes, so they must hold for every status miniagent shows, however
// far apart two observations are: a watch may skip statuses, so a rule about
// a transition only uses what no skipped status can change. Each comes from
// kubelet code: convertToAPIContainerStatuses and getPhase (kubelet_pods.go),
// UpdatePodStatus (prober_manager.go), the condition generators
// (status/generate.go), updateStatusInternal, mergePodStatus and
// checkContainerStateTransition (status_manager.go), and doBackOff
// (kuberuntime_manager.go).

import (
	"fmt"
	"regexp"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// statusViolation is one broken rule in one observed status.
type statusViolation struct {
	Rule      string // what was broken, without the values
	Container string // "" for a rule about the whole pod
	Prev      string // the container's (or pod's) status before; "" at the first sight
	Next      string // the status that breaks the rule
}

func (v statusViolation) Error() string {
	var b strings.Builder
	if v.Container != "" {
		fmt.Fprintf(&b, "container %q: ", v.Container)
	}
	b.WriteString(v.Rule)
	if v.Prev != "" {
		b.WriteString("\n    prev: " + v.Prev)
	}
	b.WriteString("\n    next: " + v.Next)
	return b.String()
}

// statusViolations is what checkTransition returns: every rule one status broke.
type statusViolations []statusViolation

func (vs statusViolations) Error() string {
	msgs := make([]string, len(vs))
	for i, v := range vs {
		msgs[i] = v.Error()
	}
	return strings.Join(msgs, "\n  ")
}

const (
	reasonCreating     = "ContainerCreating"
	reasonInitializing = "PodInitializing"
	reasonCrashLoop    = "CrashLoopBackOff"
	reasonUnknown      = "ContainerStatusUnknown" // kubelet's mark for a container the runtime lost
)

// checkTransition checks pod status next against kubelet's rules, and against
// prev, the last status seen of the same pod (same UID), if prev is not nil.
func checkTransition(prev, next *v1.Pod) error {
	c := &checker{prev: prev, next: next}
	c.pod()
	for _, list := range [][]v1.ContainerStatus{next.Status.InitContainerStatuses, next.Status.ContainerStatuses} {
		for i := range list {
			c.container(&list[i])
		}
	}
	if len(c.found) == 0 {
		return nil
	}
	return c.found
}

type checker struct {
	prev, next *v1.Pod
	found      statusViolations
}

func (c *checker) podRule(rule string, args ...any) {
	v := statusViolation{Rule: fmt.Sprintf(rule, args...), Next: podView(c.next)}
	if c.prev != nil {
		v.Prev = podView(c.prev)
	}
	c.found = append(c.found, v)
}

func (c *checker) pod() {
	next := c.next
	st := &next.Status
	terminal := st.Phase == v1.PodSucceeded || st.Phase == v1.PodFailed
	if c.prev != nil {
		prev := &c.prev.Status
		if (prev.Phase == v1.PodSucceeded || prev.Phase == v1.PodFailed) && st.Phase != prev.Phase {
			c.podRule("phase left %s", prev.Phase)
		}
		if prev.StartTime != nil && (st.StartTime == nil || !st.StartTime.Equal(prev.StartTime)) {
			c.podRule("startTime changed")
		}
		for _, pc := range prev.Conditions {
			if nc := findCondition(st.Conditions, pc.Type); nc != nil && nc.LastTransitionTime.Before(&pc.LastTransitionTime) {
				c.podRule("condition %s: lastTransitionTime went backwards", pc.Type)
			}
		}
	}
	all := append(append([]v1.ContainerStatus(nil), st.InitContainerStatuses...), st.ContainerStatuses...)
	if terminal {
		for _, cs := range all {
			if cs.State.Running != nil {
				c.podRule("%s pod with container %q running (kubelet reports a terminal phase only once every container stopped)", st.Phase, cs.Name)
			}
		}
		for _, t := range []v1.PodConditionType{v1.PodReady, v1.ContainersReady} {
			if conditionTrue(st.Conditions, t) {
				c.podRule("%s pod with condition %s=True", st.Phase, t)
			}
		}
	}
	if len(all) == 0 {
		return // not admitted (rejected): kubelet writes phase, reason and message only
	}
	if !sameNames(next.Spec.InitContainers, st.InitContainerStatuses) || !sameNames(next.Spec.Containers, st.ContainerStatuses) {
		c.podRule("container statuses do not list each container of the spec once")
	}
	if !conditionTrue(st.Conditions, v1.PodScheduled) {
		c.podRule("admitted pod without condition PodScheduled=True")
	}
	if conditionTrue(st.Conditions, v1.PodReady) && !conditionTrue(st.Conditions, v1.ContainersReady) {
		c.podRule("Ready=True without ContainersReady=True")
	}
	if conditionTrue(st.Conditions, v1.ContainersReady) {
		for _, name := range c.unready() {
			c.podRule("ContainersReady=True while container %q is not ready", name)
		}
	}
	if conditionTrue(st.Conditions, v1.PodInitialized) && st.Phase != v1.PodSucceeded && !anyAppStarted(st) {
		for _, name := range c.uninitialized() {
			c.podRule("Initialized=True while init container %q has not completed (or, a sidecar, started)", name)
		}
	}
}

// unready lists the app containers and sidecars that are not ready.
func (c *checker) unready() []string {
	var out []string
	for _, ic := range c.next.Spec.InitContainers {
		if cs := findStatus(c.next.Status.InitContainerStatuses, ic.Name); isSidecar(&ic) && (cs == nil || !cs.Ready) {
			out = append(out, ic.Name)
		}
	}
	for _, ac := range c.next.Spec.Containers {
		if cs := findStatus(c.next.Status.ContainerStatuses, ac.Name); cs == nil || !cs.Ready {
			out = append(out, ac.Name)
		}
	}
	return out
}

// uninitialized lists the init containers kubelet would not count as done:
// a regular one not ready (= not exited 0), a sidecar not started.
func (c *checker) uninitialized() []string {
	var out []string
	for _, ic := range c.next.Spec.InitContainers {
		cs := findStatus(c.next.Status.InitContainerStatuses, ic.Name)
		switch {
		case cs == nil:
			out = append(out, ic.Name)
		case isSidecar(&ic) && !isTrue(cs.Started):
			out = append(out, ic.Name)
		case !isSidecar(&ic) && !cs.Ready:
			out = append(out, ic.Name)
		}
	}
	return out
}

// crashLoopMessage is kubelet's doBackOff message; the delay is a Go duration.
func crashLoopMessage(name string, pod *v1.Pod) *regexp.Regexp {
	return regexp.MustCompile(`^back-off \d+[hms0-9.]* restarting failed container=` + regexp.QuoteMeta(name) +
		` pod=` + regexp.QuoteMeta(fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)) + `$`)
}

func (c *checker) container(cs *v1.ContainerStatus) {
	spec, init := findSpec(c.next, cs.Name)
	if spec == nil {
		return // reported by the pod rules
	}
	var prev *v1.ContainerStatus
	if c.prev != nil {
		if init {
			prev = findStatus(c.prev.Status.InitContainerStatuses, cs.Name)
		} else {
			prev = findStatus(c.prev.Status.ContainerStatuses, cs.Name)
		}
	}
	bad := func(rule string, args ...any) {
		v := statusViolation{Rule: fmt.Sprintf(rule, args...), Container: cs.Name, Next: containerView(cs)}
		if prev != nil {
			v.Prev = containerView(prev)
		}
		c.found = append(c.found, v)
	}
	sidecar, regularInit := init && isSidecar(spec), init && !isSidecar(spec)
	w, run, term := cs.State.Waiting, cs.State.Running, cs.State.Terminated
	last := cs.LastTerminationState.Terminated
	if n := countStates(cs.State); n != 1 {
		bad("state has %d of waiting, running, terminated; want 1", n)
	}
	if run == nil && isTrue(cs.Started) {
		bad("started while not running")
	}
	if !regularInit && cs.Ready && (run == nil || !isTrue(cs.Started)) {
		bad("ready while not running or not started")
	}
	if regularInit && cs.Ready != (term != nil && term.ExitCode == 0) {
		bad("init container: ready must be true exactly when it terminated with exit code 0")
	}
	hasInit := len(c.next.Spec.InitContainers) > 0
	if w != nil && w.Reason == reasonCreating && hasInit {
		bad("waiting %s in a pod with init containers (kubelet says %s)", reasonCreating, reasonInitializing)
	}
	if w != nil && w.Reason == reasonInitializing && !hasInit {
		bad("waiting %s in a pod without init containers (kubelet says %s)", reasonInitializing, reasonCreating)
	}
	if w != nil && (w.Reason == reasonCreating || w.Reason == reasonInitializing) && cs.ContainerID != "" {
		bad("waiting %s with a containerID (kubelet shows a created, not started container as waiting without reason)", w.Reason)
	}
	if cs.RestartCount > 0 && last == nil {
		bad("restartCount %d without lastState.terminated", cs.RestartCount)
	}
	if w != nil && w.Reason == reasonCrashLoop {
		c.crashLoop(cs, init, sidecar, bad)
	}
	if prev != nil {
		c.containerTransition(prev, cs, bad)
	}
}

// crashLoop checks a waiting CrashLoopBackOff status: it shows the instance
// that died (lastState), kubelet restarted the first death at once, and the
// pod's restart policy restarts this container.
func (c *checker) crashLoop(cs *v1.ContainerStatus, init, sidecar bool, bad func(string, ...any)) {
	last := cs.LastTerminationState.Terminated
	if !crashLoopMessage(cs.Name, c.next).MatchString(cs.State.Waiting.Message) {
		bad("%s message is not kubelet's %q", reasonCrashLoop, "back-off DELAY restarting failed container=NAME pod=NAME_NAMESPACE(UID)")
	}
	if last == nil {
		bad("%s without lastState.terminated", reasonCrashLoop)
		return
	}
	if cs.RestartCount == 0 {
		bad("%s at restartCount 0 (kubelet restarts after the first exit without back-off)", reasonCrashLoop)
	}
	if last.ContainerID != "" && cs.ContainerID != "" && last.ContainerID != cs.ContainerID {
		bad("%s: containerID is not the dead instance's (lastState.terminated.containerID)", reasonCrashLoop)
	}
	policy := c.next.Spec.RestartPolicy
	if !sidecar && (policy == v1.RestartPolicyNever || (policy == v1.RestartPolicyOnFailure && last.ExitCode == 0)) {
		bad("%s for a container restartPolicy %s does not restart after exit code %d", reasonCrashLoop, policy, last.ExitCode)
	}
	if init && !sidecar && last.ExitCode == 0 {
		bad("%s for an init container that exited 0", reasonCrashLoop)
	}
}

func (c *checker) containerTransition(prev, cs *v1.ContainerStatus, bad func(string, ...any)) {
	if cs.RestartCount < prev.RestartCount {
		bad("restartCount fell from %d to %d", prev.RestartCount, cs.RestartCount)
	}
	rose := cs.RestartCount > prev.RestartCount
	w := cs.State.Waiting
	if hasRun(prev) {
		if !hasRun(cs) {
			bad("forgot it has run (no running/terminated state, restartCount or lastState)")
		}
		if w != nil && (w.Reason == reasonCreating || w.Reason == reasonInitializing) && !lostByRuntime(cs) {
			bad("waiting %s after the container has run", w.Reason)
		}
		pw := prev.State.Waiting
		if w != nil && w.Reason == "" && !rose && !(pw != nil && pw.Reason == "") {
			bad("waiting (created) after it ran, without a new instance (restartCount rise)")
		}
	}
	idChanged := prev.ContainerID != "" && cs.ContainerID != "" && prev.ContainerID != cs.ContainerID
	if idChanged && !rose {
		bad("containerID changed without a restartCount rise")
	}
	if rose && prev.ContainerID != "" && prev.ContainerID == cs.ContainerID {
		bad("restartCount rose but containerID is the old instance's")
	}
	// kubelet's checkContainerStateTransition: what will not restart stays terminated.
	if nonRestartable(c.next, prev) && cs.State.Terminated == nil {
		bad("terminated container that restartPolicy %s does not restart left the terminated state", c.next.Spec.RestartPolicy)
	}
	if prev.ContainerID == "" || prev.ContainerID != cs.ContainerID {
		return
	}
	// The same instance only moves forward: created, running, terminated.
	if ps, ns := stage(&prev.State), stage(&cs.State); ps >= 0 && ns >= 0 && ns < ps {
		bad("instance %s went back from %s to %s", shortID(cs.ContainerID), stateName(&prev.State), stateName(&cs.State))
	}
	if pr, nr := prev.State.Running, cs.State.Running; pr != nil && nr != nil && !pr.StartedAt.Equal(&nr.StartedAt) {
		bad("running instance %s changed its startedAt", shortID(cs.ContainerID))
	}
	if pt := prev.State.Terminated; pt != nil {
		nt := cs.State.Terminated
		if nt == nil && w != nil {
			nt = cs.LastTerminationState.Terminated // in back-off the dead instance is lastState
		}
		if nt != nil && (nt.ExitCode != pt.ExitCode || !nt.FinishedAt.Equal(&pt.FinishedAt)) {
			bad("dead instance %s changed its exit code or finishedAt", shortID(cs.ContainerID))
		}
	}
}

// nonRestartable reports whether kubelet will never restart the terminated
// container cs (pod restart policy Never, or OnFailure after exit 0; sidecars
// always restart).
func nonRestartable(pod *v1.Pod, cs *v1.ContainerStatus) bool {
	t := cs.State.Terminated
	if t == nil {
		return false
	}
	if spec, init := findSpec(pod, cs.Name); spec == nil || (init && isSidecar(spec)) {
		return false
	}
	switch pod.Spec.RestartPolicy {
	case v1.RestartPolicyNever:
		return true
	case v1.RestartPolicyOnFailure:
		return t.ExitCode == 0
	}
	return false
}

// hasRun: the container ran once (kubelet keeps some evidence of it).
func hasRun(cs *v1.ContainerStatus) bool {
	return cs.State.Running != nil || cs.State.Terminated != nil || cs.RestartCount > 0 || cs.LastTerminationState.Terminated != nil
}

// lostByRuntime: kubelet's mark for a container that vanished from the
// runtime, the one case it shows the default waiting reason again.
func lostByRuntime(cs *v1.ContainerStatus) bool {
	t := cs.LastTerminationState.Terminated
	return t != nil && t.Reason == reasonUnknown
}

// stage orders the states of one instance: created (waiting without
// reason), running, terminated. A waiting state with a reason (back-off, a
// start error) shows the instance of lastState or none: -1, not compared.
func stage(s *v1.ContainerState) int {
	switch {
	case s.Terminated != nil:
		return 2
	case s.Running != nil:
		return 1
	case s.Waiting != nil && s.Waiting.Reason == "":
		return 0
	}
	return -1
}
