package agent

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestEventStoreWatch(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	s := newEventStore(clk, "node1")
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	s.normal(pod, "Pulled", "before the watch")
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.watch(ctx)
	s.normal(pod, "Started", "Started container c")
	clk.Step(time.Second)
	s.normal(pod, "Started", "Started container c")
	for i, want := range []struct {
		typ   string
		count int32
	}{{"ADDED", 1}, {"MODIFIED", 2}} {
		ev := <-ch
		if ev.Type != want.typ || ev.Event.Count != want.count || ev.Event.Reason != "Started" || ev.Event.InvolvedObject.Name != "web" {
			t.Errorf("event %d: %s %+v, want %s count %d", i, ev.Type, ev.Event, want.typ, want.count)
		}
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Error("channel not closed after ctx ended")
	}
	s.normal(pod, "Killing", "after the watch ended") // must not block or panic
}

// TestContainerEventFieldPath: container events name their container as
// kubelet's do, and repeats fold only for the same container.
func TestContainerEventFieldPath(t *testing.T) {
	s := newEventStore(clocktesting.NewFakeClock(time.Unix(0, 0)), "node1")
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"},
		Spec: v1.PodSpec{
			InitContainers: []v1.Container{{Name: "init"}},
			Containers:     []v1.Container{{Name: "app"}, {Name: "side"}},
		},
	}
	s.containerNormal(pod, "init", "Started", "Started container")
	s.containerNormal(pod, "app", "Started", "Started container")
	s.containerNormal(pod, "side", "Started", "Started container")
	s.containerNormal(pod, "app", "Started", "Started container")
	s.warn(pod, "FailedCreatePodSandBox", "no sandbox")
	got := map[string]int32{}
	for _, e := range s.list("u1") {
		got[e.InvolvedObject.FieldPath] = e.Count
	}
	want := map[string]int32{"spec.initContainers{init}": 1, "spec.containers{app}": 2, "spec.containers{side}": 1, "": 1}
	if len(got) != len(want) {
		t.Fatalf("events by fieldPath = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("fieldPath %q: count %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}
