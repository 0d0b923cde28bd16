package podstatus

import (
	"reflect"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cond is a condition without its transition time.
type cond struct {
	status  v1.ConditionStatus
	reason  string
	message string
}

func withStatus(p *v1.Pod, phase v1.PodPhase, init, regs []v1.ContainerStatus) *v1.Pod {
	p.Status.Phase = phase
	p.Status.InitContainerStatuses = init
	p.Status.ContainerStatuses = regs
	return p
}

func ready(s v1.ContainerStatus) v1.ContainerStatus { s.Ready = true; return s }

func TestConditions(t *testing.T) {
	T, F := v1.ConditionTrue, v1.ConditionFalse
	ok := cond{status: T}
	tests := []struct {
		name        string
		pod         *v1.Pod
		sandbox     bool
		init, cr    cond // Initialized, ContainersReady (Ready mirrors ContainersReady)
		wantSandbox v1.ConditionStatus
	}{
		{"no statuses at all", withStatus(podOf(A0, nil, "a"), v1.PodPending, nil, nil), false,
			ok, cond{F, ReasonUnknownContainerStatuses, ""}, F},
		{"no statuses with init containers", withStatus(podOf(A0, inits(ctr("i")), "a"), v1.PodPending, nil, nil), true,
			cond{F, ReasonUnknownContainerStatuses, ""}, cond{F, ReasonUnknownContainerStatuses, ""}, T},
		{"all ready", withStatus(podOf(A0, nil, "a", "b"), v1.PodRunning, nil, sts(readyRunning("a"), readyRunning("b"))), true,
			ok, ok, T},
		{"two unready", withStatus(podOf(A0, nil, "a", "b", "c"), v1.PodRunning, nil, sts(running("a"), readyRunning("b"), waiting("c"))), true,
			ok, cond{F, ReasonContainersNotReady, "containers with unready status: [a c]"}, T},
		{"unknown and unready", withStatus(podOf(A0, nil, "a", "b", "c"), v1.PodPending, nil, sts(running("a"))), true,
			ok, cond{F, ReasonContainersNotReady, "containers with unknown status: [b c], containers with unready status: [a]"}, T},
		{"init running", withStatus(podOf(A0, inits(ctr("i1"), ctr("i2")), "a"), v1.PodPending, sts(running("i1"), waiting("i2")), sts(waiting("a"))), true,
			cond{F, ReasonContainersNotInitialized, "containers with incomplete status: [i1 i2]"},
			cond{F, ReasonContainersNotReady, "containers with unready status: [a]"}, T},
		{"init unknown and incomplete", withStatus(podOf(A0, inits(ctr("i1"), ctr("i2")), "a"), v1.PodPending, sts(waitingAfter("i1", 1)), sts(waiting("a"))), true,
			cond{F, ReasonContainersNotInitialized, "containers with unknown status: [i2], containers with incomplete status: [i1]"},
			cond{F, ReasonContainersNotReady, "containers with unready status: [a]"}, T},
		{"init completed (exit 0, ready unset)", withStatus(podOf(A0, inits(ctr("i1")), "a"), v1.PodPending, sts(terminated("i1", 0)), sts(waiting("a"))), true,
			ok, cond{F, ReasonContainersNotReady, "containers with unready status: [a]"}, T},
		{"init completed and marked ready", withStatus(podOf(A0, inits(ctr("i1")), "a"), v1.PodRunning, sts(ready(terminated("i1", 0))), sts(readyRunning("a"))), true,
			ok, ok, T},
		{"sidecar not started", withStatus(podOf(A0, inits(sidecar("s")), "a"), v1.PodPending, sts(runningNotStarted("s")), sts(waiting("a"))), true,
			cond{F, ReasonContainersNotInitialized, "containers with incomplete status: [s]"},
			cond{F, ReasonContainersNotReady, "containers with unready status: [s a]"}, T},
		{"sidecar started not ready", withStatus(podOf(A0, inits(sidecar("s")), "a"), v1.PodRunning, sts(running("s")), sts(readyRunning("a"))), true,
			ok, cond{F, ReasonContainersNotReady, "containers with unready status: [s]"}, T},
		{"sidecar and main ready", withStatus(podOf(A0, inits(sidecar("s")), "a"), v1.PodRunning, sts(readyRunning("s")), sts(readyRunning("a"))), true,
			ok, ok, T},
		{"sidecar restarting after init", withStatus(podOf(A0, inits(sidecar("s")), "a"), v1.PodRunning, sts(waitingAfter("s", 1)), sts(readyRunning("a"))), true,
			ok, cond{F, ReasonContainersNotReady, "containers with unready status: [s]"}, T},
		{"succeeded", withStatus(podOf(v1.RestartPolicyNever, inits(ctr("i")), "a"), v1.PodSucceeded, sts(terminated("i", 0)), sts(terminated("a", 0))), false,
			cond{T, ReasonPodCompleted, ""}, cond{F, ReasonPodCompleted, ""}, F},
		{"succeeded without init containers", withStatus(podOf(v1.RestartPolicyNever, nil, "a"), v1.PodSucceeded, nil, sts(terminated("a", 0))), false,
			cond{T, ReasonPodCompleted, ""}, cond{F, ReasonPodCompleted, ""}, F},
		{"succeeded with unknown container", withStatus(podOf(v1.RestartPolicyNever, nil, "a", "b"), v1.PodSucceeded, nil, sts(terminated("a", 0))), false,
			cond{T, ReasonPodCompleted, ""}, cond{F, ReasonContainersNotReady, "containers with unknown status: [b], containers with unready status: [a]"}, F},
		{"failed", withStatus(podOf(v1.RestartPolicyNever, nil, "a", "b"), v1.PodFailed, nil, sts(terminated("a", 1), readyRunning("b"))), true,
			ok, cond{F, ReasonPodFailed, ""}, T},
		{"failed in init", withStatus(podOf(v1.RestartPolicyNever, inits(ctr("i")), "a"), v1.PodFailed, sts(terminated("i", 1)), sts(waiting("a"))), false,
			cond{F, ReasonContainersNotInitialized, "containers with incomplete status: [i]"}, cond{F, ReasonPodFailed, ""}, F},
	}
	now := metav1.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Conditions(tc.pod, tc.sandbox, nil, now)
			order := []v1.PodConditionType{v1.PodReadyToStartContainers, v1.PodInitialized, v1.PodReady, v1.ContainersReady, v1.PodScheduled}
			if len(got) != len(order) {
				t.Fatalf("got %d conditions, want %d", len(got), len(order))
			}
			for i, typ := range order {
				if got[i].Type != typ {
					t.Errorf("condition %d is %s, want %s", i, got[i].Type, typ)
				}
				if !got[i].LastTransitionTime.Equal(&now) {
					t.Errorf("%s: LastTransitionTime %v, want now", typ, got[i].LastTransitionTime)
				}
			}
			check := func(c v1.PodCondition, want cond) {
				t.Helper()
				if g := (cond{c.Status, c.Reason, c.Message}); g != want {
					t.Errorf("%s = %+v, want %+v", c.Type, g, want)
				}
			}
			check(got[0], cond{status: tc.wantSandbox})
			check(got[1], tc.init)
			check(got[2], tc.cr)
			check(got[3], tc.cr)
			check(got[4], ok)
		})
	}
}

func TestConditionsTransitionTime(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	pod := withStatus(podOf(A0, nil, "a"), v1.PodRunning, nil, sts(running("a")))
	first := Conditions(pod, true, nil, t0)

	// Same statuses a minute later: every time is carried over.
	again := Conditions(pod, true, first, t1)
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("unchanged conditions changed:\n%v\n%v", first, again)
	}

	// The container becomes ready: Ready and ContainersReady move, the rest stay.
	pod.Status.ContainerStatuses[0].Ready = true
	next := Conditions(pod, true, again, t1)
	for _, c := range next {
		want := t0
		if c.Type == v1.PodReady || c.Type == v1.ContainersReady {
			want = t1
		}
		if !c.LastTransitionTime.Equal(&want) {
			t.Errorf("%s: LastTransitionTime %v, want %v", c.Type, c.LastTransitionTime, want)
		}
	}

	// A reason change without status change keeps the old time.
	old := []v1.PodCondition{{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: "Other", LastTransitionTime: t0}}
	pod.Status.ContainerStatuses[0].Ready = false
	got := FindCondition(Conditions(pod, true, old, t1), v1.ContainersReady)
	if !got.LastTransitionTime.Equal(&t0) || got.Reason != ReasonContainersNotReady {
		t.Errorf("ContainersReady = %+v, want reason %s at %v", got, ReasonContainersNotReady, t0)
	}
	if FindCondition(nil, v1.PodReady) != nil {
		t.Error("FindCondition on nil found something")
	}
}
