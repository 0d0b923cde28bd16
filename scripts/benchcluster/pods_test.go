package main

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(name string, phase v1.PodPhase, ready v1.ConditionStatus, restarts int32) v1.Pod {
	p := v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: v1.PodStatus{Phase: phase,
		ContainerStatuses: []v1.ContainerStatus{{Name: "sleep", RestartCount: restarts}}}}
	if ready != "" {
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionTrue}, {Type: v1.PodReady, Status: ready}}
	}
	return p
}

func TestRunningReady(t *testing.T) {
	tests := []struct {
		name string
		pod  v1.Pod
		want bool
	}{
		{"running and ready", pod("a", v1.PodRunning, v1.ConditionTrue, 0), true},
		{"running, not ready", pod("a", v1.PodRunning, v1.ConditionFalse, 0), false},
		{"running, no Ready condition", pod("a", v1.PodRunning, "", 0), false},
		{"pending with Ready true", pod("a", v1.PodPending, v1.ConditionTrue, 0), false},
	}
	for _, tt := range tests {
		if got := runningReady(&tt.pod); got != tt.want {
			t.Errorf("%s: runningReady = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReadyAndRestartsAndCountReady(t *testing.T) {
	names := idleNames(3)
	pods := []v1.Pod{
		pod("idle-1", v1.PodRunning, v1.ConditionTrue, 0),
		pod("idle-2", v1.PodRunning, v1.ConditionTrue, 2),
		pod("idle-3", v1.PodPending, v1.ConditionFalse, 0),
		pod("c-1", v1.PodRunning, v1.ConditionTrue, 5), // not an idle pod
	}
	if r, n := readyAndRestarts(pods, names); r != 2 || n != 2 {
		t.Errorf("readyAndRestarts = %d, %d; want 2, 2", r, n)
	}
	done, why, err := countReady(pods, names)
	if done || err != nil || why != "2 of 3 Running and Ready" {
		t.Errorf("countReady = %v, %q, %v", done, why, err)
	}
	pods[2] = pod("idle-3", v1.PodFailed, v1.ConditionFalse, 0)
	if _, _, err := countReady(pods, names); err == nil || !strings.Contains(err.Error(), "idle-3 ended in phase Failed") {
		t.Errorf("countReady with a failed pod: err = %v", err)
	}
}

func TestFailed(t *testing.T) {
	p := pod("a", v1.PodPending, "", 0)
	p.Status.ContainerStatuses[0].State.Waiting = &v1.ContainerStateWaiting{Reason: "ContainerCreating"}
	if err := failed(&p); err != nil {
		t.Errorf("ContainerCreating: %v", err)
	}
	p.Status.ContainerStatuses[0].State.Waiting = &v1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "no image"}
	if err := failed(&p); err == nil || !strings.Contains(err.Error(), "ErrImageNeverPull") {
		t.Errorf("ErrImageNeverPull: err = %v", err)
	}
}

func TestBenchPod(t *testing.T) {
	p := benchPod("default", "c-1", "busybox", "ma-cbench", false)
	if p.Spec.NodeName != "ma-cbench" || p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken ||
		p.Labels[benchLabel] == "" || *p.Spec.TerminationGracePeriodSeconds != 0 {
		t.Errorf("benchPod = %+v", p)
	}
	if p := benchPod("default", "idle-1", "busybox", "", true); p.Spec.AutomountServiceAccountToken != nil {
		t.Errorf("automount true should leave the apiserver's default, got %v", *p.Spec.AutomountServiceAccountToken)
	}
	if roundName("c", -1) != "c-warmup" || roundName("s", 0) != "s-1" {
		t.Errorf("roundName: %q %q", roundName("c", -1), roundName("s", 0))
	}
}

func TestOptionsCheck(t *testing.T) {
	ok := options{binDir: "/b", k8sBin: "/k", work: "/w", rounds: 30, idlePods: 50, basePort: 21000,
		namespace: "ma-cbench", saNamespace: "ma-cbench-sa", window: 60e9}
	if err := ok.check(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for _, tt := range []struct {
		field string
		mod   func(*options)
	}{
		{"--bin-dir", func(o *options) { o.binDir = "" }},
		{"--k8s-bin", func(o *options) { o.k8sBin = "" }},
		{"--work", func(o *options) { o.work = "rel" }},
		{"--rounds", func(o *options) { o.rounds = 0 }},
		{"--idle-pods", func(o *options) { o.idlePods = -1 }},
		{"--base-port", func(o *options) { o.basePort = 80 }},
		{"--standalone-namespace", func(o *options) { o.saNamespace = o.namespace }},
		{"--window", func(o *options) { o.window = 0 }},
	} {
		o := ok
		tt.mod(&o)
		if err := o.check(); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: err = %v, want one naming it", tt.field, err)
		}
	}
}
