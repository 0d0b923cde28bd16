package admission

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestPreferredAffinity(t *testing.T) {
	host := "kubernetes.io/hostname"
	web := mkPod("web", withLabels("app", "web"))
	pod := mkPod("p", affinity(&v1.Affinity{
		NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{
			{Weight: 10, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("disktype", v1.NodeSelectorOpIn, "ssd")}}},
			{Weight: 5, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("gpu", v1.NodeSelectorOpExists), expr("cores", v1.NodeSelectorOpGt, "4")}}},
		}},
		PodAffinity: &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{
			{Weight: 50, PodAffinityTerm: podTerm(sel("app", "web"), host)},
			{Weight: 40, PodAffinityTerm: podTerm(sel("app", "web"), "zone")},
		}},
		PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{
			{Weight: 30, PodAffinityTerm: podTerm(sel("app", "web"), host)},
			{Weight: 20, PodAffinityTerm: podTerm(sel("app", "db"), host)},
			{Weight: 1, PodAffinityTerm: podTerm(sel("app", "web"), "zone")},
		}},
	}))
	want := []PreferredTerm{
		{KindNodeAffinity, 10, "disktype in (ssd)", true},
		{KindNodeAffinity, 5, "gpu,cores>4", false},
		{KindPodAffinity, 50, "{app=web} topologyKey kubernetes.io/hostname", true},
		{KindPodAffinity, 40, "{app=web} topologyKey zone", false},
		{KindPodAntiAffinity, 30, "{app=web} topologyKey kubernetes.io/hostname", false},
		{KindPodAntiAffinity, 20, "{app=db} topologyKey kubernetes.io/hostname", true},
		{KindPodAntiAffinity, 1, "{app=web} topologyKey zone", true},
	}
	got := PreferredAffinity(pod, testNode(), []*v1.Pod{web, pod})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	if r := Admit(pod, testNode(), []*v1.Pod{web}); !r.Admit {
		t.Errorf("preferred terms rejected the pod: %+v", r)
	}
	if got := PreferredAffinity(mkPod("plain"), testNode(), nil); got != nil {
		t.Errorf("pod without affinity: %+v", got)
	}
}
