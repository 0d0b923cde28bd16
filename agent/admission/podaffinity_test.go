package admission

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestInterPodAffinity(t *testing.T) {
	host := "kubernetes.io/hostname"
	web := mkPod("web", withLabels("app", "web", "tier", "front"))
	cache := mkPod("cache", withLabels("app", "cache"), inNamespace("infra"))
	keepWebAway := mkPod("guard", withLabels("app", "guard"), requiredPodAntiAffinity(podTerm(sel("app", "web"), host)))
	expr := func(key string, op metav1.LabelSelectorOperator, values ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     string
	}{
		{"no affinity", mkPod("p"), []*v1.Pod{web}, ""},
		{"affinity to a running pod", mkPod("p", requiredPodAffinity(podTerm(sel("app", "web"), host))), []*v1.Pod{web}, ""},
		{"affinity, no such pod", mkPod("p", requiredPodAffinity(podTerm(sel("app", "db"), host))), []*v1.Pod{web}, ErrPodAffinity},
		{"affinity, topology label missing on node", mkPod("p", requiredPodAffinity(podTerm(sel("app", "web"), "zone"))), []*v1.Pod{web}, ErrPodAffinity},
		{"affinity with matchExpressions In", mkPod("p", requiredPodAffinity(podTerm(expr("tier", metav1.LabelSelectorOpIn, "front", "back"), host))), []*v1.Pod{web}, ""},
		{"affinity with matchExpressions DoesNotExist", mkPod("p", withLabels("tier", "x"), requiredPodAffinity(podTerm(expr("tier", metav1.LabelSelectorOpDoesNotExist), host))), []*v1.Pod{web}, ErrPodAffinity},
		{"affinity only looks in own namespace by default", mkPod("p", requiredPodAffinity(podTerm(sel("app", "cache"), host))), []*v1.Pod{cache, web}, ErrPodAffinity},
		{"affinity with namespaces", mkPod("p", requiredPodAffinity(v1.PodAffinityTerm{LabelSelector: sel("app", "cache"), Namespaces: []string{"infra"}, TopologyKey: host})), []*v1.Pod{cache}, ""},
		{"affinity with empty namespaceSelector means all", mkPod("p", requiredPodAffinity(v1.PodAffinityTerm{LabelSelector: sel("app", "cache"), NamespaceSelector: &metav1.LabelSelector{}, TopologyKey: host})), []*v1.Pod{cache}, ""},
		{"affinity with namespaceSelector on name", mkPod("p", requiredPodAffinity(v1.PodAffinityTerm{LabelSelector: sel("app", "cache"), NamespaceSelector: sel(NamespaceNameLabel, "infra"), TopologyKey: host})), []*v1.Pod{cache}, ""},
		{"affinity with namespaceSelector on another name", mkPod("p", requiredPodAffinity(v1.PodAffinityTerm{LabelSelector: sel("app", "cache"), NamespaceSelector: sel(NamespaceNameLabel, "prod"), TopologyKey: host})), []*v1.Pod{cache}, ErrPodAffinity},
		{"nil label selector matches nothing", mkPod("p", requiredPodAffinity(podTerm(nil, host))), []*v1.Pod{web}, ErrPodAffinity},
		{"first pod of a self-affine group", mkPod("p", withLabels("app", "grp"), requiredPodAffinity(podTerm(sel("app", "grp"), host))), []*v1.Pod{web}, ""},
		{"self-affine but the node lacks the topology key", mkPod("p", withLabels("app", "grp"), requiredPodAffinity(podTerm(sel("app", "grp"), "zone"))), nil, ErrPodAffinity},
		{"not self-affine, no match", mkPod("p", withLabels("app", "x"), requiredPodAffinity(podTerm(sel("app", "grp"), host))), nil, ErrPodAffinity},
		{"self-affine with two terms, one matched elsewhere, one not", mkPod("p", withLabels("app", "grp", "tier", "front"),
			requiredPodAffinity(podTerm(sel("app", "grp"), host), podTerm(sel("tier", "front"), host))), []*v1.Pod{web}, ErrPodAffinity},
		{"anti-affinity against a running pod", mkPod("p", requiredPodAntiAffinity(podTerm(sel("app", "web"), host))), []*v1.Pod{web}, ErrPodAntiAffinity},
		{"anti-affinity, no such pod", mkPod("p", requiredPodAntiAffinity(podTerm(sel("app", "db"), host))), []*v1.Pod{web}, ""},
		{"anti-affinity, topology label missing passes", mkPod("p", requiredPodAntiAffinity(podTerm(sel("app", "web"), "zone"))), []*v1.Pod{web}, ""},
		{"anti-affinity other namespace", mkPod("p", requiredPodAntiAffinity(podTerm(sel("app", "cache"), host))), []*v1.Pod{cache}, ""},
		{"existing pod's anti-affinity keeps the newcomer out", mkPod("p", withLabels("app", "web")), []*v1.Pod{keepWebAway}, ErrExistingPodAntiAffinity},
		{"existing pod's anti-affinity, newcomer not selected", mkPod("p", withLabels("app", "api")), []*v1.Pod{keepWebAway}, ""},
		{"existing pod's anti-affinity uses its own namespace", mkPod("p", withLabels("app", "web"), inNamespace("other")), []*v1.Pod{keepWebAway}, ""},
		{"affinity checked before anti-affinity", mkPod("p", requiredPodAffinity(podTerm(sel("app", "db"), host)), requiredPodAntiAffinity(podTerm(sel("app", "web"), host))), []*v1.Pod{web}, ErrPodAffinity},
		{"matchLabelKeys narrows to the owner's value", mkPod("p", withLabels("version", "v2"), requiredPodAntiAffinity(v1.PodAffinityTerm{
			LabelSelector: sel("app", "web"), MatchLabelKeys: []string{"version"}, TopologyKey: host})), []*v1.Pod{web}, ""},
		{"mismatchLabelKeys excludes the owner's value", mkPod("p", withLabels("tier", "back"), requiredPodAffinity(v1.PodAffinityTerm{
			LabelSelector: sel("app", "web"), MismatchLabelKeys: []string{"tier"}, TopologyKey: host})), []*v1.Pod{web}, ""},
	}
	for _, tc := range tests {
		if got := interPodAffinity(tc.pod, testNode(), tc.existing); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestHostPorts(t *testing.T) {
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing *v1.Pod
		fit      bool
	}{
		{"no host ports", mkPod("p", func(p *v1.Pod) { p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 80}} }), mkPod("e", hostPortOpt(80, "", "")), true},
		{"same port, default ip and protocol", mkPod("p", hostPortOpt(80, "", "")), mkPod("e", hostPortOpt(80, "0.0.0.0", v1.ProtocolTCP)), false},
		{"same port, other protocol", mkPod("p", hostPortOpt(80, "", v1.ProtocolUDP)), mkPod("e", hostPortOpt(80, "", "")), true},
		{"same port, two specific ips", mkPod("p", hostPortOpt(80, "10.0.0.1", "")), mkPod("e", hostPortOpt(80, "10.0.0.2", "")), true},
		{"same port, same specific ip", mkPod("p", hostPortOpt(80, "10.0.0.1", "")), mkPod("e", hostPortOpt(80, "10.0.0.1", "")), false},
		{"specific ip against all", mkPod("p", hostPortOpt(80, "10.0.0.1", "")), mkPod("e", hostPortOpt(80, "", "")), false},
		{"all against specific ip", mkPod("p", hostPortOpt(80, "", "")), mkPod("e", hostPortOpt(80, "10.0.0.1", "")), false},
		{"other port", mkPod("p", hostPortOpt(81, "", "")), mkPod("e", hostPortOpt(80, "", "")), true},
		{"sidecar port conflicts", mkPod("p", hostPortOpt(80, "", "")), mkPod("e", func(p *v1.Pod) {
			p.Spec.InitContainers = []v1.Container{{Name: "s", RestartPolicy: ptrTo(v1.ContainerRestartPolicyAlways), Ports: []v1.ContainerPort{{HostPort: 80, ContainerPort: 80}}}}
		}), false},
		{"plain init container port is free again", mkPod("p", hostPortOpt(80, "", "")), mkPod("e", func(p *v1.Pod) {
			p.Spec.InitContainers = []v1.Container{{Name: "i", Ports: []v1.ContainerPort{{HostPort: 80, ContainerPort: 80}}}}
		}), true},
	}
	for _, tc := range tests {
		if got := portsFit(tc.pod, []*v1.Pod{tc.existing}); got != tc.fit {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.fit)
		}
	}
}
