package admission

import (
	v1 "k8s.io/api/core/v1"
)

// Kinds of preferred terms.
const (
	KindNodeAffinity    = "NodeAffinity"
	KindPodAffinity     = "PodAffinity"
	KindPodAntiAffinity = "PodAntiAffinity"
)

// PreferredTerm is one preferredDuringSchedulingIgnoredDuringExecution term
// of a pod and whether this node and its pods satisfy it. Preferred terms
// never reject a pod; describe shows them.
type PreferredTerm struct {
	// Kind is KindNodeAffinity, KindPodAffinity or KindPodAntiAffinity.
	Kind string
	// Weight is the term's weight (1-100).
	Weight int32
	// Term renders the term like a label selector, e.g. "disktype in (ssd)"
	// or "{app=web} topologyKey kubernetes.io/hostname".
	Term string
	// Satisfied tells whether the term holds: the node matches a node
	// affinity term; some other pod matches a pod affinity term and the node
	// has its topologyKey label; no other pod matches a pod anti-affinity
	// term, or the node lacks its topologyKey label.
	Satisfied bool
}

// PreferredAffinity evaluates every preferred node affinity, pod affinity
// and pod anti-affinity term of pod, in that order and in spec order, on
// node with the other pods existing (the pod itself is ignored if present).
// It returns nil when the pod has no preferred terms.
func PreferredAffinity(pod *v1.Pod, node *v1.Node, existing []*v1.Pod) []PreferredTerm {
	a := pod.Spec.Affinity
	if a == nil {
		return nil
	}
	existing = others(pod, existing)
	var out []PreferredTerm
	if a.NodeAffinity != nil {
		for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			out = append(out, PreferredTerm{Kind: KindNodeAffinity, Weight: t.Weight,
				Term: describeNodeTerm(t.Preference), Satisfied: NodeSelectorTermMatches(t.Preference, node)})
		}
	}
	podTerms := func(kind string, terms []v1.WeightedPodAffinityTerm) {
		for _, wt := range terms {
			pt, err := parseTerm(pod, wt.PodAffinityTerm)
			if err != nil {
				out = append(out, PreferredTerm{Kind: kind, Weight: wt.Weight, Term: "invalid: " + err.Error()})
				continue
			}
			_, hasTopology := node.Labels[pt.topologyKey]
			found := pt.matchesAny(existing)
			sat := hasTopology && found
			if kind == KindPodAntiAffinity {
				sat = !hasTopology || !found
			}
			out = append(out, PreferredTerm{Kind: kind, Weight: wt.Weight, Term: pt.text, Satisfied: sat})
		}
	}
	if a.PodAffinity != nil {
		podTerms(KindPodAffinity, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if a.PodAntiAffinity != nil {
		podTerms(KindPodAntiAffinity, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	return out
}
