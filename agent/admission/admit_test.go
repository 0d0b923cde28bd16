package admission

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestAdmitMessages(t *testing.T) {
	tainted := testNode()
	tainted.Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "db", Effect: v1.TaintEffectNoSchedule}}
	running := []*v1.Pod{
		mkPod("big", requests("cpu", "1500m", "memory", "256Mi"), hostPortOpt(8080, "", "")),
		mkPod("db", withLabels("app", "db"), requiredPodAntiAffinity(podTerm(sel("app", "web"), "kubernetes.io/hostname"))),
	}
	tests := []struct {
		name     string
		pod      *v1.Pod
		node     *v1.Node
		existing []*v1.Pod
		reason   string
		message  string
	}{
		{"fits", mkPod("p", requests("cpu", "100m", "memory", "64Mi")), testNode(), running, "", ""},
		{"memory", mkPod("p", requests("memory", "1Gi")), testNode(), running, "OutOfmemory",
			"Node didn't have enough resource: memory, requested: 1073741824, used: 268435456, capacity: 1073741824"},
		{"cpu in millicores", mkPod("p", requests("cpu", "1")), testNode(), running, "OutOfcpu",
			"Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000"},
		{"unknown resource not checked", mkPod("p", requests("example.com/gpu", "1")), testNode(), nil, "", ""},
		{"node selector", mkPod("p", nodeSelector("disktype", "hdd")), testNode(), nil, "NodeAffinity",
			"Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"},
		{"node name", mkPod("p", func(p *v1.Pod) { p.Spec.NodeName = "other" }), testNode(), nil, "NodeName",
			"Predicate NodeName failed: node(s) didn't match the requested node name"},
		{"host port", mkPod("p", hostPortOpt(8080, "127.0.0.1", v1.ProtocolTCP)), testNode(), running, "NodePorts",
			"Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"},
		{"taint", mkPod("p"), tainted, nil, "TaintToleration",
			"Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"},
		{"taint tolerated", mkPod("p", tolerate(v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "db"})), tainted, nil, "", ""},
		{"static pod ignores taints", mkPod("p", static), tainted, nil, "", ""},
		{"existing anti-affinity", mkPod("p", withLabels("app", "web")), testNode(), running, "InterPodAffinity",
			"Predicate InterPodAffinity failed: node(s) didn't satisfy existing pods anti-affinity rules"},
		{"os label", mkPod("p", withLabels("kubernetes.io/os", "windows")), testNode(), nil, "PodOSSelectorNodeLabelDoesNotMatch",
			"Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"},
		{"os field", mkPod("p", func(p *v1.Pod) { p.Spec.OS = &v1.PodOS{Name: v1.Windows} }), testNode(), nil, "PodOSNotSupported",
			"Failed to admit pod as the OS field doesn't match node OS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Admit(tc.pod, tc.node, tc.existing)
			if r.Admit != (tc.reason == "") || r.Reason != tc.reason || r.Message != tc.message {
				t.Fatalf("Admit = %+v, want reason %q message %q", r, tc.reason, tc.message)
			}
			if tc.reason != "" && r.StatusMessage() != "Pod was rejected: "+tc.message {
				t.Errorf("StatusMessage = %q", r.StatusMessage())
			}
			if tc.reason == "" && r.StatusMessage() != "" {
				t.Errorf("admitted pod has status message %q", r.StatusMessage())
			}
		})
	}
}

// TestAdmitOrder checks that with every check failing, each is reported in
// kubelet's order once the earlier ones are fixed.
func TestAdmitOrder(t *testing.T) {
	node := testNode()
	node.Spec.Taints = []v1.Taint{{Key: "k", Effect: v1.TaintEffectNoExecute}}
	existing := []*v1.Pod{mkPod("web", withLabels("app", "web"), hostPortOpt(80, "", ""))}
	pod := mkPod("p", requests("memory", "2Gi"), nodeSelector("disktype", "hdd"), hostPortOpt(80, "", ""),
		func(p *v1.Pod) { p.Spec.NodeName = "elsewhere" },
		requiredPodAntiAffinity(podTerm(sel("app", "web"), "kubernetes.io/hostname")))
	fixes := []struct {
		reason string
		fix    func(*v1.Pod)
	}{
		{"OutOfmemory", func(p *v1.Pod) { p.Spec.Containers[0].Resources = v1.ResourceRequirements{} }},
		{"NodeAffinity", func(p *v1.Pod) { p.Spec.NodeSelector = nil }},
		{"NodeName", func(p *v1.Pod) { p.Spec.NodeName = "node1" }},
		{"NodePorts", func(p *v1.Pod) { p.Spec.Containers[0].Ports = nil }},
		{"TaintToleration", func(p *v1.Pod) { p.Spec.Tolerations = []v1.Toleration{{Operator: v1.TolerationOpExists}} }},
		{"InterPodAffinity", func(p *v1.Pod) { p.Spec.Affinity = nil }},
	}
	for _, f := range fixes {
		if r := Admit(pod, node, existing); r.Reason != f.reason {
			t.Fatalf("got %q (%s), want %q", r.Reason, r.Message, f.reason)
		}
		f.fix(pod)
	}
	if r := Admit(pod, node, existing); !r.Admit {
		t.Fatalf("fixed pod rejected: %+v", r)
	}
}

func TestAdmitWarnings(t *testing.T) {
	node := testNode()
	node.Spec.Taints = []v1.Taint{
		{Key: "soft", Value: "x", Effect: v1.TaintEffectPreferNoSchedule},
		{Key: "other", Effect: v1.TaintEffectPreferNoSchedule},
	}
	r := Admit(mkPod("p", tolerate(v1.Toleration{Key: "other", Operator: v1.TolerationOpExists})), node, nil)
	want := []string{"node has taint soft=x:PreferNoSchedule that the pod does not tolerate (PreferNoSchedule: admitted anyway)"}
	if !r.Admit || !reflect.DeepEqual(r.Warnings, want) {
		t.Fatalf("got %+v, want admitted with %q", r, want)
	}
}

func TestAdmitIgnoresItselfInExisting(t *testing.T) {
	p := mkPod("p", requests("memory", "800Mi"), hostPortOpt(80, "", ""), withLabels("app", "a"),
		requiredPodAntiAffinity(podTerm(sel("app", "a"), "kubernetes.io/hostname")))
	if r := Admit(p, testNode(), []*v1.Pod{p.DeepCopy()}); !r.Admit {
		t.Fatalf("pod rejected because of itself: %+v", r)
	}
}
