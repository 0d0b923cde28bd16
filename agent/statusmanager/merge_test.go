package statusmanager

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	t0  = metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	now = metav1.NewTime(t0.Add(time.Minute))
)

func cond(t v1.PodConditionType, s v1.ConditionStatus) v1.PodCondition {
	return v1.PodCondition{Type: t, Status: s, LastTransitionTime: t0}
}

// condString lists conditions as "Type=Status" in order.
func condString(cs []v1.PodCondition) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, string(c.Type)+"="+string(c.Status))
	}
	return strings.Join(parts, ",")
}

func TestMerge(t *testing.T) {
	gate := v1.PodConditionType("example.com/Gate")
	running := v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{
		cond(v1.PodReadyToStartContainers, v1.ConditionTrue), cond(v1.PodInitialized, v1.ConditionTrue),
		cond(v1.PodReady, v1.ConditionTrue), cond(v1.ContainersReady, v1.ConditionTrue), cond(v1.PodScheduled, v1.ConditionTrue),
	}}
	failed := v1.PodStatus{Phase: v1.PodFailed, Reason: "Evicted", Message: "low on memory", Conditions: []v1.PodCondition{
		cond(v1.DisruptionTarget, v1.ConditionTrue), cond(v1.PodReady, v1.ConditionTrue), cond(v1.ContainersReady, v1.ConditionTrue),
	}}
	for _, tc := range []struct {
		name                 string
		old, next            v1.PodStatus
		wantConds, wantPhase string
	}{{
		name:      "conditions of others are kept, the kubelet's come from the agent",
		old:       v1.PodStatus{Phase: v1.PodPending, Conditions: []v1.PodCondition{cond(gate, v1.ConditionFalse), cond(v1.PodScheduled, v1.ConditionFalse)}},
		next:      running,
		wantConds: "example.com/Gate=False,PodReadyToStartContainers=True,Initialized=True,Ready=True,ContainersReady=True,PodScheduled=True",
		wantPhase: "Running",
	}, {
		name:      "a kubelet condition the agent no longer reports goes",
		old:       running,
		next:      v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{cond(v1.PodReady, v1.ConditionFalse)}},
		wantConds: "Ready=False",
		wantPhase: "Running",
	}, {
		name:      "DisruptionTarget comes with the move to a terminal phase; Ready is never True then",
		old:       running,
		next:      failed,
		wantConds: "DisruptionTarget=True,Ready=False,ContainersReady=False",
		wantPhase: "Failed",
	}, {
		name: "DisruptionTarget from the agent is not sent while the pod is not terminal",
		old:  v1.PodStatus{Phase: v1.PodRunning},
		next: v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{cond(v1.DisruptionTarget, v1.ConditionTrue),
			cond(v1.PodReady, v1.ConditionFalse)}},
		wantConds: "Ready=False",
		wantPhase: "Running",
	}, {
		name:      "a terminal phase never goes back",
		old:       v1.PodStatus{Phase: v1.PodSucceeded, Reason: "Done", Message: "m", Conditions: []v1.PodCondition{cond(v1.PodReady, v1.ConditionFalse)}},
		next:      running,
		wantConds: "PodReadyToStartContainers=True,Initialized=True,Ready=False,ContainersReady=False,PodScheduled=True",
		wantPhase: "Succeeded",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			oldCopy, nextCopy := tc.old.DeepCopy(), tc.next.DeepCopy()
			got := Merge(tc.old, tc.next, now)
			if s := condString(got.Conditions); s != tc.wantConds {
				t.Errorf("conditions %s\nwant       %s", s, tc.wantConds)
			}
			if string(got.Phase) != tc.wantPhase {
				t.Errorf("phase %s, want %s", got.Phase, tc.wantPhase)
			}
			if tc.wantPhase == "Succeeded" && (got.Reason != "Done" || got.Message != "m") {
				t.Errorf("terminal reason/message not kept: %q %q", got.Reason, got.Message)
			}
			if !equalStatus(*oldCopy, tc.old) || !equalStatus(*nextCopy, tc.next) {
				t.Error("Merge modified its arguments")
			}
		})
	}
}

func TestMergeTerminalReadyTransitionTime(t *testing.T) {
	got := Merge(v1.PodStatus{Phase: v1.PodRunning}, v1.PodStatus{Phase: v1.PodSucceeded, Conditions: []v1.PodCondition{cond(v1.PodReady, v1.ConditionTrue)}}, now)
	c := got.Conditions[0]
	if c.Status != v1.ConditionFalse || c.Reason != "PodCompleted" || !c.LastTransitionTime.Equal(&now) {
		t.Errorf("Ready = %+v, want False, PodCompleted, at now", c)
	}
}

func TestPatchBytes(t *testing.T) {
	old := v1.PodStatus{Phase: v1.PodPending}
	patch, unchanged, err := PatchBytes("uid-1", old, old)
	if err != nil || !unchanged || string(patch) != `{"metadata":{"uid":"uid-1"}}` {
		t.Errorf("same status: %s, unchanged=%v, %v", patch, unchanged, err)
	}
	next := v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{cond(v1.PodReady, v1.ConditionTrue)}}
	patch, unchanged, err = PatchBytes("uid-1", old, next)
	if err != nil || unchanged {
		t.Fatalf("changed status: unchanged=%v, %v", unchanged, err)
	}
	for _, want := range []string{`"uid":"uid-1"`, `"phase":"Running"`, `"type":"Ready"`} {
		if !strings.Contains(string(patch), want) {
			t.Errorf("patch %s lacks %s", patch, want)
		}
	}
}
