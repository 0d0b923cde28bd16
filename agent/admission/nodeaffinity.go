package admission

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// nodeNameField is the only field matchFields may select on.
const nodeNameField = "metadata.name"

// RequiredNodeAffinityMatches reports whether the node satisfies the pod's
// nodeSelector and its requiredDuringSchedulingIgnoredDuringExecution node
// affinity (both must hold; the affinity's terms are ORed, the requirements
// inside one term ANDed).
func RequiredNodeAffinityMatches(pod *v1.Pod, node *v1.Node) bool {
	for k, v := range pod.Spec.NodeSelector {
		if got, ok := node.Labels[k]; !ok || got != v {
			return false
		}
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	return NodeSelectorMatches(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution, node)
}

// NodeSelectorMatches reports whether any term of sel matches the node. A
// selector without terms matches nothing.
func NodeSelectorMatches(sel *v1.NodeSelector, node *v1.Node) bool {
	for _, t := range sel.NodeSelectorTerms {
		if NodeSelectorTermMatches(t, node) {
			return true
		}
	}
	return false
}

// NodeSelectorTermMatches reports whether every expression and field
// requirement of the term holds for the node. An empty term matches nothing
// and an invalid requirement (e.g. In without values, Gt with a non-integer)
// makes the whole term fail, as in the scheduler.
func NodeSelectorTermMatches(t v1.NodeSelectorTerm, node *v1.Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		ok, err := requirementMatches(r, node.Labels)
		if err != nil || !ok {
			return false
		}
	}
	for _, r := range t.MatchFields {
		ok, err := fieldMatches(r, node)
		if err != nil || !ok {
			return false
		}
	}
	return true
}

// requirementMatches evaluates one matchExpressions entry against labels.
func requirementMatches(r v1.NodeSelectorRequirement, labels map[string]string) (bool, error) {
	val, has := labels[r.Key]
	switch r.Operator {
	case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
		if len(r.Values) == 0 {
			return false, fmt.Errorf("%s: values must be non-empty for operator %s", r.Key, r.Operator)
		}
		in := has && slices.Contains(r.Values, val)
		if r.Operator == v1.NodeSelectorOpIn {
			return in, nil
		}
		return !in, nil
	case v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist:
		if len(r.Values) != 0 {
			return false, fmt.Errorf("%s: values must be empty for operator %s", r.Key, r.Operator)
		}
		return has == (r.Operator == v1.NodeSelectorOpExists), nil
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			return false, fmt.Errorf("%s: exactly one value is required for operator %s", r.Key, r.Operator)
		}
		want, err := strconv.ParseInt(r.Values[0], 10, 64)
		if err != nil {
			return false, fmt.Errorf("%s: value %q for operator %s is not an integer", r.Key, r.Values[0], r.Operator)
		}
		if !has {
			return false, nil
		}
		got, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return false, nil
		}
		if r.Operator == v1.NodeSelectorOpGt {
			return got > want, nil
		}
		return got < want, nil
	}
	return false, fmt.Errorf("%s: unknown operator %q", r.Key, r.Operator)
}

// fieldMatches evaluates one matchFields entry: only metadata.name with In
// or NotIn and exactly one value is valid.
func fieldMatches(r v1.NodeSelectorRequirement, node *v1.Node) (bool, error) {
	if r.Key != nodeNameField {
		return false, fmt.Errorf("%q is not a valid field selector key for nodes", r.Key)
	}
	if len(r.Values) != 1 {
		return false, fmt.Errorf("unexpected number of values (%d) for node field selector operator %q", len(r.Values), r.Operator)
	}
	switch r.Operator {
	case v1.NodeSelectorOpIn:
		return node.Name == r.Values[0], nil
	case v1.NodeSelectorOpNotIn:
		return node.Name != r.Values[0], nil
	}
	return false, fmt.Errorf("%q is not a valid node field selector operator", r.Operator)
}

// describeNodeTerm renders a node selector term like a label selector:
// "disktype in (ssd),!gpu,cores>4".
func describeNodeTerm(t v1.NodeSelectorTerm) string {
	var parts []string
	for _, r := range t.MatchExpressions {
		parts = append(parts, describeRequirement(r.Key, r.Operator, r.Values))
	}
	for _, r := range t.MatchFields {
		parts = append(parts, describeRequirement(r.Key, r.Operator, r.Values))
	}
	if len(parts) == 0 {
		return "<empty>"
	}
	return strings.Join(parts, ",")
}

func describeRequirement(key string, op v1.NodeSelectorOperator, values []string) string {
	switch op {
	case v1.NodeSelectorOpIn:
		return key + " in (" + strings.Join(values, ",") + ")"
	case v1.NodeSelectorOpNotIn:
		return key + " notin (" + strings.Join(values, ",") + ")"
	case v1.NodeSelectorOpExists:
		return key
	case v1.NodeSelectorOpDoesNotExist:
		return "!" + key
	case v1.NodeSelectorOpGt:
		return key + ">" + strings.Join(values, ",")
	case v1.NodeSelectorOpLt:
		return key + "<" + strings.Join(values, ",")
	}
	return fmt.Sprintf("%s %s (%s)", key, op, strings.Join(values, ","))
}
