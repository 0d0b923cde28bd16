package admission

import (
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Reasons of the scheduler's InterPodAffinity filter, in the order it
// checks them.
const (
	ErrPodAffinity             = "node(s) didn't match pod affinity rules"
	ErrPodAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
	ErrExistingPodAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// NamespaceNameLabel is the only label a namespace has here (the API server
// sets it on every namespace).
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// affinityTerm is a parsed PodAffinityTerm of the pod that owns it.
type affinityTerm struct {
	namespaces  []string
	nsSelector  labels.Selector
	selector    labels.Selector
	topologyKey string
	text        string
}

// parseTerm resolves a term against its owner: no namespaces and no
// namespaceSelector mean the owner's namespace; a nil selector matches
// nothing and an empty one everything; matchLabelKeys and mismatchLabelKeys
// add "key in (owner's value)" / "key notin (owner's value)", as the API
// server does when the pod is created.
func parseTerm(owner *v1.Pod, t v1.PodAffinityTerm) (affinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return affinityTerm{}, fmt.Errorf("labelSelector: %w", err)
	}
	if t.LabelSelector != nil {
		for _, keys := range []struct {
			list []string
			op   selection.Operator
		}{{t.MatchLabelKeys, selection.In}, {t.MismatchLabelKeys, selection.NotIn}} {
			for _, k := range keys.list {
				v, ok := owner.Labels[k]
				if !ok {
					continue
				}
				req, err := labels.NewRequirement(k, keys.op, []string{v})
				if err != nil {
					return affinityTerm{}, fmt.Errorf("matchLabelKeys: %w", err)
				}
				sel = sel.Add(*req)
			}
		}
	}
	nsSel := labels.Nothing()
	if t.NamespaceSelector != nil {
		if nsSel, err = metav1.LabelSelectorAsSelector(t.NamespaceSelector); err != nil {
			return affinityTerm{}, fmt.Errorf("namespaceSelector: %w", err)
		}
	}
	ns := t.Namespaces
	if len(ns) == 0 && t.NamespaceSelector == nil {
		ns = []string{owner.Namespace}
	}
	text := "{" + sel.String() + "}"
	if t.NamespaceSelector != nil {
		text += " namespaceSelector {" + nsSel.String() + "}"
	}
	if len(t.Namespaces) > 0 {
		text += " namespaces " + strings.Join(t.Namespaces, ",")
	}
	text += " topologyKey " + t.TopologyKey
	return affinityTerm{namespaces: ns, nsSelector: nsSel, selector: sel, topologyKey: t.TopologyKey, text: text}, nil
}

// matches reports whether pod p is selected by the term.
func (t affinityTerm) matches(p *v1.Pod) bool {
	if !slices.Contains(t.namespaces, p.Namespace) && !t.nsSelector.Matches(labels.Set{NamespaceNameLabel: p.Namespace}) {
		return false
	}
	return t.selector.Matches(labels.Set(p.Labels))
}

// matchesAny reports whether one of the pods is selected by the term.
func (t affinityTerm) matchesAny(pods []*v1.Pod) bool {
	for _, p := range pods {
		if t.matches(p) {
			return true
		}
	}
	return false
}

func requiredAffinity(pod *v1.Pod) []v1.PodAffinityTerm {
	if a := pod.Spec.Affinity; a != nil && a.PodAffinity != nil {
		return a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

func requiredAntiAffinity(pod *v1.Pod) []v1.PodAffinityTerm {
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		return a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

// others returns existing without the pod itself (same namespace and name),
// should the caller have included it.
func others(pod *v1.Pod, existing []*v1.Pod) []*v1.Pod {
	out := make([]*v1.Pod, 0, len(existing))
	for _, p := range existing {
		if p == nil || (p.Namespace == pod.Namespace && p.Name == pod.Name) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// interPodAffinity is the scheduler's InterPodAffinity filter for a single
// node: the pod's required affinity (every term needs a matching pod and the
// node must carry the term's topologyKey label; a pod whose terms match
// only itself and no other pod is admitted as the first of its group), its
// required anti-affinity (no matching pod, unless the node lacks the
// topologyKey label) and the existing pods' required anti-affinity against
// the newcomer. It returns "" when the pod passes, else the reason.
func interPodAffinity(pod *v1.Pod, node *v1.Node, existing []*v1.Pod) string {
	existing = others(pod, existing)
	var aff []affinityTerm
	for _, t := range requiredAffinity(pod) {
		pt, err := parseTerm(pod, t)
		if err != nil {
			return ErrPodAffinity
		}
		aff = append(aff, pt)
	}
	if len(aff) > 0 {
		allFound, anyFound := true, false
		for _, t := range aff {
			if _, ok := node.Labels[t.topologyKey]; !ok {
				return ErrPodAffinity
			}
			if t.matchesAny(existing) {
				anyFound = true
			} else {
				allFound = false
			}
		}
		if !allFound {
			self := true
			for _, t := range aff {
				self = self && t.matches(pod)
			}
			if anyFound || !self {
				return ErrPodAffinity
			}
		}
	}
	for _, t := range requiredAntiAffinity(pod) {
		pt, err := parseTerm(pod, t)
		if err != nil {
			return ErrPodAntiAffinity
		}
		if _, ok := node.Labels[pt.topologyKey]; ok && pt.matchesAny(existing) {
			return ErrPodAntiAffinity
		}
	}
	for _, p := range existing {
		for _, t := range requiredAntiAffinity(p) {
			pt, err := parseTerm(p, t)
			if err != nil {
				continue // the existing pod's own problem; it cannot exclude anyone
			}
			if _, ok := node.Labels[pt.topologyKey]; ok && pt.matches(pod) {
				return ErrExistingPodAntiAffinity
			}
		}
	}
	return ""
}
