package podstatus

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestPhase(t *testing.T) {
	const (
		A = v1.RestartPolicyAlways
		O = v1.RestartPolicyOnFailure
		N = v1.RestartPolicyNever
	)
	tests := []struct {
		name        string
		pod         *v1.Pod
		init, regs  []v1.ContainerStatus
		terminal    bool
		initialized bool
		want        v1.PodPhase
	}{
		// regular containers only
		{"no statuses yet", podOf(A, nil, "a", "b"), nil, nil, false, false, v1.PodPending},
		{"all running", podOf(A, nil, "a", "b"), nil, sts(running("a"), running("b")), false, false, v1.PodRunning},
		{"one running one unknown", podOf(A, nil, "a", "b"), nil, sts(running("a")), false, false, v1.PodPending},
		{"one running one waiting first time", podOf(A, nil, "a", "b"), nil, sts(running("a"), waiting("b")), false, false, v1.PodPending},
		{"one running one crash looping", podOf(A, nil, "a", "b"), nil, sts(running("a"), waitingAfter("b", 1)), false, false, v1.PodRunning},
		{"one running one exited", podOf(N, nil, "a", "b"), nil, sts(running("a"), terminated("b", 1)), false, false, v1.PodRunning},
		{"status without state is unknown", podOf(A, nil, "a", "b"), nil, sts(running("a"), noState("b")), false, false, v1.PodPending},
		{"all waiting", podOf(A, nil, "a"), nil, sts(waiting("a")), false, false, v1.PodPending},
		{"empty policy means Always", podOf("", nil, "a"), nil, sts(terminated("a", 0)), false, false, v1.PodRunning},

		// all stopped, by restart policy
		{"always: all succeeded restarts", podOf(A, nil, "a", "b"), nil, sts(terminated("a", 0), terminated("b", 0)), false, false, v1.PodRunning},
		{"always: failed restarts", podOf(A, nil, "a"), nil, sts(terminated("a", 1)), false, false, v1.PodRunning},
		{"always: crash loop", podOf(A, nil, "a"), nil, sts(waitingAfter("a", 2)), false, false, v1.PodRunning},
		{"onfailure: all succeeded", podOf(O, nil, "a", "b"), nil, sts(terminated("a", 0), terminated("b", 0)), false, false, v1.PodSucceeded},
		{"onfailure: one failed restarts", podOf(O, nil, "a", "b"), nil, sts(terminated("a", 0), terminated("b", 1)), false, false, v1.PodRunning},
		{"onfailure: crash looping", podOf(O, nil, "a"), nil, sts(waitingAfter("a", 1)), false, false, v1.PodRunning},
		{"never: all succeeded", podOf(N, nil, "a", "b"), nil, sts(terminated("a", 0), terminated("b", 0)), false, false, v1.PodSucceeded},
		{"never: one failed", podOf(N, nil, "a", "b"), nil, sts(terminated("a", 0), terminated("b", 137)), false, false, v1.PodFailed},
		{"never: stopped but one unknown", podOf(N, nil, "a", "b"), nil, sts(terminated("a", 0)), false, false, v1.PodPending},
		// waiting after a successful exit counts as stopped and not succeeded
		{"never: waiting after exit 0 counts as failure", podOf(N, nil, "a"), nil, sts(waitingAfter("a", 0)), false, false, v1.PodFailed},

		// terminal pods ignore the restart policy
		{"terminal always all succeeded", podOf(A, nil, "a"), nil, sts(terminated("a", 0)), true, false, v1.PodSucceeded},
		{"terminal always one failed", podOf(A, nil, "a", "b"), nil, sts(terminated("a", 0), terminated("b", 143)), true, false, v1.PodFailed},
		{"terminal onfailure failed", podOf(O, nil, "a"), nil, sts(terminated("a", 1)), true, false, v1.PodFailed},
		{"terminal but still running", podOf(A, nil, "a"), nil, sts(running("a")), true, false, v1.PodRunning},
		{"terminal static pod keeps policy", staticPod(podOf(A, nil, "a")), nil, sts(terminated("a", 0)), true, false, v1.PodRunning},
		{"terminal api-sourced pod is not static", sourced(podOf(A, nil, "a"), "api"), nil, sts(terminated("a", 0)), true, false, v1.PodSucceeded},

		// regular init containers
		{"init not started", podOf(A, inits(ctr("i1")), "a"), nil, nil, false, false, v1.PodPending},
		{"init running", podOf(A, inits(ctr("i1")), "a"), sts(running("i1")), sts(waiting("a")), false, false, v1.PodPending},
		{"init waiting first time", podOf(A, inits(ctr("i1")), "a"), sts(waiting("i1")), nil, false, false, v1.PodPending},
		{"init without state", podOf(A, inits(ctr("i1")), "a"), sts(noState("i1")), nil, false, false, v1.PodPending},
		{"first init done second pending", podOf(A, inits(ctr("i1"), ctr("i2")), "a"), sts(terminated("i1", 0)), sts(waiting("a")), false, false, v1.PodPending},
		{"inits done, main waiting", podOf(A, inits(ctr("i1")), "a"), sts(terminated("i1", 0)), sts(waiting("a")), false, false, v1.PodPending},
		{"inits done, main running", podOf(A, inits(ctr("i1")), "a"), sts(terminated("i1", 0)), sts(running("a")), false, false, v1.PodRunning},
		{"init failed never", podOf(N, inits(ctr("i1")), "a"), sts(terminated("i1", 1)), sts(waiting("a")), false, false, v1.PodFailed},
		{"init failed never, waiting state", podOf(N, inits(ctr("i1")), "a"), sts(waitingAfter("i1", 1)), sts(waiting("a")), false, false, v1.PodFailed},
		{"init failed always is pending", podOf(A, inits(ctr("i1")), "a"), sts(waitingAfter("i1", 1)), sts(waiting("a")), false, false, v1.PodPending},
		{"init failed onfailure is pending", podOf(O, inits(ctr("i1")), "a"), sts(terminated("i1", 1)), sts(waiting("a")), false, false, v1.PodPending},
		{"init succeeded then waiting again", podOf(A, inits(ctr("i1")), "a"), sts(waitingAfter("i1", 0)), sts(running("a")), false, false, v1.PodRunning},
		{"init failed never even if main ran", podOf(N, inits(ctr("i1")), "a"), sts(terminated("i1", 2)), sts(running("a")), false, false, v1.PodFailed},

		// sidecars (restartable init containers)
		{"sidecar unknown", podOf(A, inits(sidecar("s")), "a"), nil, sts(running("a")), false, false, v1.PodPending},
		{"sidecar waiting first time", podOf(A, inits(sidecar("s")), "a"), sts(waiting("s")), nil, false, false, v1.PodPending},
		{"sidecar running not started", podOf(A, inits(sidecar("s")), "a"), sts(runningNotStarted("s")), sts(waiting("a")), false, false, v1.PodPending},
		{"sidecar started, main waiting", podOf(A, inits(sidecar("s")), "a"), sts(running("s")), sts(waiting("a")), false, false, v1.PodPending},
		{"sidecar started, main running", podOf(A, inits(sidecar("s")), "a"), sts(running("s")), sts(running("a")), false, false, v1.PodRunning},
		{"sidecar restarting before startup after init", podOf(A, inits(sidecar("s")), "a"), sts(runningNotStarted("s")), sts(running("a")), false, true, v1.PodRunning},
		{"sidecar restarting before startup not initialized", podOf(A, inits(sidecar("s")), "a"), sts(runningNotStarted("s")), sts(running("a")), false, false, v1.PodPending},
		{"sidecar without state after init", podOf(A, inits(sidecar("s")), "a"), sts(noState("s")), sts(running("a")), false, true, v1.PodPending},
		{"sidecar running, main completed never", podOf(N, inits(sidecar("s")), "a"), sts(running("s")), sts(terminated("a", 0)), false, true, v1.PodRunning},
		{"sidecar stopped, main completed never", podOf(N, inits(sidecar("s")), "a"), sts(terminated("s", 137)), sts(terminated("a", 0)), false, true, v1.PodSucceeded},
		{"sidecar crash looping, main failed never", podOf(N, inits(sidecar("s")), "a"), sts(waitingAfter("s", 1)), sts(terminated("a", 1)), false, true, v1.PodFailed},
		{"sidecar stopped, main completed terminal", podOf(A, inits(sidecar("s")), "a"), sts(terminated("s", 143)), sts(terminated("a", 0)), true, true, v1.PodSucceeded},
		{"sidecar then init then main", podOf(A, inits(sidecar("s"), ctr("i")), "a"), sts(running("s"), running("i")), sts(waiting("a")), false, false, v1.PodPending},
		{"sidecar then init done", podOf(A, inits(sidecar("s"), ctr("i")), "a"), sts(running("s"), terminated("i", 0)), sts(running("a")), false, true, v1.PodRunning},
		{"sidecar and failed init never", podOf(N, inits(sidecar("s"), ctr("i")), "a"), sts(running("s"), terminated("i", 1)), sts(waiting("a")), false, false, v1.PodFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Phase(tc.pod, tc.init, tc.regs, tc.terminal, tc.initialized)
			if got != tc.want {
				t.Errorf("Phase = %s, want %s", got, tc.want)
			}
		})
	}
}

func staticPod(p *v1.Pod) *v1.Pod { return sourced(p, "file") }

func sourced(p *v1.Pod, src string) *v1.Pod {
	p.Annotations = map[string]string{ConfigSourceAnnotation: src}
	return p
}

func TestKeepTerminal(t *testing.T) {
	tests := []struct{ prev, next, want v1.PodPhase }{
		{"", v1.PodPending, v1.PodPending},
		{v1.PodPending, v1.PodRunning, v1.PodRunning},
		{v1.PodRunning, v1.PodSucceeded, v1.PodSucceeded},
		{v1.PodSucceeded, v1.PodRunning, v1.PodSucceeded},
		{v1.PodFailed, v1.PodSucceeded, v1.PodFailed},
		{v1.PodFailed, v1.PodPending, v1.PodFailed},
		{v1.PodUnknown, v1.PodRunning, v1.PodRunning},
	}
	for _, tc := range tests {
		if got := KeepTerminal(tc.prev, tc.next); got != tc.want {
			t.Errorf("KeepTerminal(%q, %q) = %q, want %q", tc.prev, tc.next, got, tc.want)
		}
		if IsTerminal(tc.prev) != (tc.prev == v1.PodSucceeded || tc.prev == v1.PodFailed) {
			t.Errorf("IsTerminal(%q) wrong", tc.prev)
		}
	}
}

func TestHasAnyRegularContainerStarted(t *testing.T) {
	spec := &podOf(A0, inits(ctr("i")), "a", "b").Spec
	tests := []struct {
		name string
		in   []v1.ContainerStatus
		want bool
	}{
		{"none", nil, false},
		{"waiting only", sts(waiting("a"), waiting("b")), false},
		{"init running does not count", sts(running("i")), false},
		{"crash looping does not count", sts(waitingAfter("a", 1)), false},
		{"running", sts(waiting("a"), running("b")), true},
		{"terminated", sts(terminated("a", 0)), true},
	}
	for _, tc := range tests {
		if got := HasAnyRegularContainerStarted(spec, tc.in); got != tc.want {
			t.Errorf("%s: got %v want %v", tc.name, got, tc.want)
		}
	}
}

const A0 = v1.RestartPolicyAlways
