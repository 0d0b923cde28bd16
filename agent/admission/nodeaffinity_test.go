package admission

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestRequirementOperators(t *testing.T) {
	labels := map[string]string{"disktype": "ssd", "cores": "8", "zone": "a", "bad": "x8"}
	tests := []struct {
		r       v1.NodeSelectorRequirement
		want    bool
		invalid bool
	}{
		{expr("disktype", v1.NodeSelectorOpIn, "ssd", "nvme"), true, false},
		{expr("disktype", v1.NodeSelectorOpIn, "hdd"), false, false},
		{expr("missing", v1.NodeSelectorOpIn, "x"), false, false},
		{expr("disktype", v1.NodeSelectorOpIn), false, true},
		{expr("disktype", v1.NodeSelectorOpNotIn, "hdd"), true, false},
		{expr("disktype", v1.NodeSelectorOpNotIn, "ssd"), false, false},
		{expr("missing", v1.NodeSelectorOpNotIn, "x"), true, false},
		{expr("disktype", v1.NodeSelectorOpExists), true, false},
		{expr("missing", v1.NodeSelectorOpExists), false, false},
		{expr("disktype", v1.NodeSelectorOpExists, "ssd"), false, true},
		{expr("missing", v1.NodeSelectorOpDoesNotExist), true, false},
		{expr("disktype", v1.NodeSelectorOpDoesNotExist), false, false},
		{expr("cores", v1.NodeSelectorOpGt, "4"), true, false},
		{expr("cores", v1.NodeSelectorOpGt, "8"), false, false},
		{expr("cores", v1.NodeSelectorOpLt, "9"), true, false},
		{expr("cores", v1.NodeSelectorOpLt, "8"), false, false},
		{expr("missing", v1.NodeSelectorOpGt, "1"), false, false},
		{expr("bad", v1.NodeSelectorOpGt, "1"), false, false},
		{expr("cores", v1.NodeSelectorOpGt, "four"), false, true},
		{expr("cores", v1.NodeSelectorOpGt, "1", "2"), false, true},
		{expr("cores", "Like", "8"), false, true},
	}
	for _, tc := range tests {
		got, err := requirementMatches(tc.r, labels)
		if got != tc.want || (err != nil) != tc.invalid {
			t.Errorf("%v: got %v err %v, want %v invalid %v", tc.r, got, err, tc.want, tc.invalid)
		}
	}
}

func TestNodeAffinityMatching(t *testing.T) {
	term := func(rs ...v1.NodeSelectorRequirement) v1.NodeSelectorTerm {
		return v1.NodeSelectorTerm{MatchExpressions: rs}
	}
	field := func(op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorTerm {
		return v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{expr("metadata.name", op, values...)}}
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want bool
	}{
		{"no constraints", mkPod("p"), true},
		{"nodeSelector match", mkPod("p", nodeSelector("disktype", "ssd", "kubernetes.io/hostname", "node1")), true},
		{"nodeSelector one key differs", mkPod("p", nodeSelector("disktype", "ssd", "zone", "b")), false},
		{"nodeSelector key missing", mkPod("p", nodeSelector("gpu", "true")), false},
		{"requirements in a term are ANDed", mkPod("p", requiredNode(term(expr("disktype", v1.NodeSelectorOpIn, "ssd"), expr("cores", v1.NodeSelectorOpLt, "4")))), false},
		{"terms are ORed", mkPod("p", requiredNode(term(expr("cores", v1.NodeSelectorOpLt, "4")), term(expr("disktype", v1.NodeSelectorOpExists)))), true},
		{"empty term matches nothing", mkPod("p", requiredNode(v1.NodeSelectorTerm{})), false},
		{"no terms match nothing", mkPod("p", requiredNode()), false},
		{"invalid requirement fails its term only", mkPod("p", requiredNode(term(expr("x", v1.NodeSelectorOpIn)), term(expr("disktype", v1.NodeSelectorOpIn, "ssd")))), true},
		{"nodeSelector and affinity both needed", mkPod("p", nodeSelector("disktype", "hdd"), requiredNode(term(expr("disktype", v1.NodeSelectorOpExists)))), false},
		{"matchFields In", mkPod("p", requiredNode(field(v1.NodeSelectorOpIn, "node1"))), true},
		{"matchFields In other node", mkPod("p", requiredNode(field(v1.NodeSelectorOpIn, "node2"))), false},
		{"matchFields NotIn", mkPod("p", requiredNode(field(v1.NodeSelectorOpNotIn, "node2"))), true},
		{"matchFields two values invalid", mkPod("p", requiredNode(field(v1.NodeSelectorOpIn, "node1", "node2"))), false},
		{"matchFields Exists invalid", mkPod("p", requiredNode(field(v1.NodeSelectorOpExists))), false},
		{"matchFields other key invalid", mkPod("p", requiredNode(v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{expr("metadata.uid", v1.NodeSelectorOpIn, "x")}})), false},
		{"expressions and fields ANDed", mkPod("p", requiredNode(v1.NodeSelectorTerm{
			MatchExpressions: []v1.NodeSelectorRequirement{expr("disktype", v1.NodeSelectorOpIn, "ssd")},
			MatchFields:      []v1.NodeSelectorRequirement{expr("metadata.name", v1.NodeSelectorOpIn, "node2")}})), false},
	}
	for _, tc := range tests {
		if got := RequiredNodeAffinityMatches(tc.pod, testNode()); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
