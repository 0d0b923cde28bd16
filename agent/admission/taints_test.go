package admission

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTolerates(t *testing.T) {
	taint := v1.Taint{Key: "k", Value: "v", Effect: v1.TaintEffectNoSchedule}
	tests := []struct {
		name string
		tol  v1.Toleration
		want bool
	}{
		{"equal", v1.Toleration{Key: "k", Operator: v1.TolerationOpEqual, Value: "v", Effect: v1.TaintEffectNoSchedule}, true},
		{"empty operator means equal", v1.Toleration{Key: "k", Value: "v"}, true},
		{"equal other value", v1.Toleration{Key: "k", Operator: v1.TolerationOpEqual, Value: "w"}, false},
		{"equal empty value", v1.Toleration{Key: "k", Operator: v1.TolerationOpEqual}, false},
		{"exists any value", v1.Toleration{Key: "k", Operator: v1.TolerationOpExists}, true},
		{"exists other key", v1.Toleration{Key: "j", Operator: v1.TolerationOpExists}, false},
		{"empty key with exists matches all", v1.Toleration{Operator: v1.TolerationOpExists}, true},
		{"empty key with exists but other effect", v1.Toleration{Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}, false},
		{"empty effect matches all effects", v1.Toleration{Key: "k", Operator: v1.TolerationOpExists, Effect: ""}, true},
		{"other effect", v1.Toleration{Key: "k", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectPreferNoSchedule}, false},
		{"comparison operators never match", v1.Toleration{Key: "k", Operator: "Gt", Value: "1"}, false},
	}
	for _, tc := range tests {
		if got := Tolerates(tc.tol, taint); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNoExecuteDecision(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	added := metav1.NewTime(now.Add(-10 * time.Second))
	ne := v1.Taint{Key: "k", Value: "v", Effect: v1.TaintEffectNoExecute, TimeAdded: &added}
	ne2 := v1.Taint{Key: "other", Effect: v1.TaintEffectNoExecute, TimeAdded: &added}
	noTime := v1.Taint{Key: "k", Value: "v", Effect: v1.TaintEffectNoExecute}
	ns := v1.Taint{Key: "k", Value: "v", Effect: v1.TaintEffectNoSchedule}
	forK := func(secs *int64) podOpt {
		return tolerate(v1.Toleration{Key: "k", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute, TolerationSeconds: secs})
	}
	tests := []struct {
		name   string
		pod    *v1.Pod
		taints []v1.Taint
		evict  bool
		at     time.Time
	}{
		{"no taints", mkPod("p"), nil, false, time.Time{}},
		{"only NoSchedule", mkPod("p"), []v1.Taint{ns}, false, time.Time{}},
		{"untolerated NoExecute evicts now", mkPod("p"), []v1.Taint{ne}, true, now},
		{"tolerated forever", mkPod("p", forK(nil)), []v1.Taint{ne}, false, time.Time{}},
		{"tolerationSeconds from timeAdded", mkPod("p", forK(ptrTo[int64](30))), []v1.Taint{ne}, true, now.Add(20 * time.Second)},
		{"tolerationSeconds from now without timeAdded", mkPod("p", forK(ptrTo[int64](30))), []v1.Taint{noTime}, true, now.Add(30 * time.Second)},
		{"expired toleration gives a past time", mkPod("p", forK(ptrTo[int64](5))), []v1.Taint{ne}, true, now.Add(-5 * time.Second)},
		{"zero seconds means at once", mkPod("p", forK(ptrTo[int64](0))), []v1.Taint{ne}, true, added.Time},
		{"one untolerated taint among tolerated ones", mkPod("p", forK(nil)), []v1.Taint{ne, ne2}, true, now},
		{"earliest over taints", mkPod("p", forK(ptrTo[int64](60)),
			tolerate(v1.Toleration{Key: "other", Operator: v1.TolerationOpExists, TolerationSeconds: ptrTo[int64](20)})),
			[]v1.Taint{ne, ne2}, true, now.Add(10 * time.Second)},
		{"forever on one, limited on another", mkPod("p", forK(nil),
			tolerate(v1.Toleration{Key: "other", Operator: v1.TolerationOpExists, TolerationSeconds: ptrTo[int64](100)})),
			[]v1.Taint{ne, ne2}, true, now.Add(90 * time.Second)},
		{"NoSchedule toleration does not cover NoExecute", mkPod("p",
			tolerate(v1.Toleration{Key: "k", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule})), []v1.Taint{ne}, true, now},
		{"static pods are never evicted", mkPod("p", static), []v1.Taint{ne}, false, time.Time{}},
	}
	for _, tc := range tests {
		evict, at := NoExecuteDecision(tc.pod, tc.taints, now)
		if evict != tc.evict || !at.Equal(tc.at) {
			t.Errorf("%s: got (%v, %v), want (%v, %v)", tc.name, evict, at, tc.evict, tc.at)
		}
	}
}

func TestEvictionTexts(t *testing.T) {
	pod := mkPod("web", inNamespace("prod"), tolerate(v1.Toleration{Key: "a", Operator: v1.TolerationOpExists}),
		tolerate(v1.Toleration{Key: "b", Operator: v1.TolerationOpExists, TolerationSeconds: ptrTo[int64](5)}))
	taints := []v1.Taint{
		{Key: "a", Effect: v1.TaintEffectNoExecute},
		{Key: "b", Value: "1", Effect: v1.TaintEffectNoExecute},
		{Key: "c", Effect: v1.TaintEffectNoExecute},
		{Key: "d", Effect: v1.TaintEffectNoSchedule},
	}
	if got, want := EvictionMessage(pod, taints), "Taint manager: deleting due to NoExecute taint b=1:NoExecute, c:NoExecute"; got != want {
		t.Errorf("EvictionMessage = %q, want %q", got, want)
	}
	if got, want := EvictionEventMessage(pod), "Marking for deletion Pod prod/web"; got != want {
		t.Errorf("EvictionEventMessage = %q, want %q", got, want)
	}
	if got, want := CancelEventMessage(pod), "Cancelling deletion of Pod prod/web"; got != want {
		t.Errorf("CancelEventMessage = %q, want %q", got, want)
	}
}
