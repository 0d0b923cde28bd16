package cluster

import (
	"maps"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/sources"
)

// ConfigMirrorAnnotation marks a mirror pod; its value is the config.hash
// of the static pod it mirrors (kubelet's kubernetes.io/config.mirror).
const ConfigMirrorAnnotation = "kubernetes.io/config.mirror"

// MirrorRef names the mirror pod of a static pod in the apiserver.
type MirrorRef struct {
	Namespace, Name string
	UID             types.UID
}

// MirrorChange tells that the mirror pod of the static pod Static changed:
// Old or New is the zero MirrorRef when there was or is none.
type MirrorChange struct {
	Static   types.UID
	Old, New MirrorRef
}

// isStatic reports whether a pod of the agent came from the manifest
// directory (a static pod).
func isStatic(p *v1.Pod) bool {
	return p.Annotations[sources.ConfigSourceAnnotation] == sources.SourceFile
}

// isMirror reports whether a pod of the apiserver is a mirror pod.
func isMirror(p *v1.Pod) bool {
	_, ok := p.Annotations[ConfigMirrorAnnotation]
	return ok
}

// staticHash is the hash a mirror pod of p must carry: its config.hash,
// else its UID (the file source sets both to the same value).
func staticHash(p *v1.Pod) string {
	if h := p.Annotations[sources.ConfigHashAnnotation]; h != "" {
		return h
	}
	return string(p.UID)
}

// mirrorPlan is what a reconcile does: mirror pods to delete (each with
// its UID as precondition), static pods whose mirror is to be created,
// and the mirrors that stand for static pods as they are.
type mirrorPlan struct {
	remove []*v1.Pod
	create []*v1.Pod
	valid  map[types.UID]MirrorRef // static UID -> its current mirror
	// conflicts are static pods whose name a pod that is no mirror holds.
	conflicts []*v1.Pod
}

// planMirrors is kubelet's mirror pod logic as a pure function of the
// agent's static pods and the apiserver's pods on this node:
//   - a static pod without a mirror pod gets one;
//   - a mirror pod being deleted (a user's `kubectl delete`), or whose
//     config.mirror no longer matches its static pod's hash, is deleted and,
//     once gone, created again;
//   - a mirror pod whose static pod is gone is deleted;
//   - a pod of the static pod's name that is no mirror pod is left alone
//     (reported as a conflict).
func planMirrors(statics, apiPods []*v1.Pod) mirrorPlan {
	p := mirrorPlan{valid: map[types.UID]MirrorRef{}}
	byName := map[string]*v1.Pod{}
	for _, ap := range apiPods {
		byName[ap.Namespace+"/"+ap.Name] = ap
	}
	wanted := map[string]bool{}
	for _, s := range statics {
		key := s.Namespace + "/" + s.Name
		wanted[key] = true
		m := byName[key]
		switch {
		case m == nil:
			p.create = append(p.create, s)
		case !isMirror(m):
			p.conflicts = append(p.conflicts, s)
		case m.DeletionTimestamp != nil || m.Annotations[ConfigMirrorAnnotation] != staticHash(s):
			p.remove = append(p.remove, m)
		default:
			p.valid[s.UID] = MirrorRef{Namespace: m.Namespace, Name: m.Name, UID: m.UID}
		}
	}
	for _, ap := range apiPods {
		if isMirror(ap) && !wanted[ap.Namespace+"/"+ap.Name] {
			p.remove = append(p.remove, ap)
		}
	}
	return p
}

// mirrorPod is the mirror pod of the static pod s on node nodeName with
// UID nodeUID, as kubelet creates it: the static pod's labels, annotations
// and spec, config.mirror set to its hash, bound to the node and owned by
// the Node (a controller reference without blockOwnerDeletion, as the
// NodeRestriction admission plugin requires).
func mirrorPod(s *v1.Pod, nodeName string, nodeUID types.UID) *v1.Pod {
	annotations := maps.Clone(s.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[ConfigMirrorAnnotation] = staticHash(s)
	controller := true
	m := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.Name,
			Namespace:   s.Namespace,
			Labels:      maps.Clone(s.Labels),
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: nodeName, UID: nodeUID, Controller: &controller,
			}},
		},
		Spec: *s.Spec.DeepCopy(),
	}
	m.Spec.NodeName = nodeName
	return m
}

// mirrorMapping is the static-to-mirror mapping after a reconcile: the
// valid mirrors of the plan, plus the mirrors this agent created (the
// informer may not show them yet), minus those it deleted.
func mirrorMapping(prev map[types.UID]MirrorRef, statics []*v1.Pod, p mirrorPlan, created map[types.UID]MirrorRef) map[types.UID]MirrorRef {
	next := maps.Clone(p.valid)
	removed := map[types.UID]bool{}
	for _, m := range p.remove {
		removed[m.UID] = true
	}
	for _, s := range statics {
		if _, ok := next[s.UID]; ok {
			continue
		}
		if ref, ok := created[s.UID]; ok {
			next[s.UID] = ref
			continue
		}
		if ref, ok := prev[s.UID]; ok && !removed[ref.UID] && !conflicting(p, s) {
			next[s.UID] = ref // created earlier, not yet seen by the informer
		}
	}
	return next
}

func conflicting(p mirrorPlan, s *v1.Pod) bool {
	for _, c := range p.conflicts {
		if c.UID == s.UID {
			return true
		}
	}
	return false
}

// mirrorChanges lists how the mapping moved from prev to next, in no
// particular order.
func mirrorChanges(prev, next map[types.UID]MirrorRef) []MirrorChange {
	var out []MirrorChange
	for uid, old := range prev {
		if now := next[uid]; now != old {
			out = append(out, MirrorChange{Static: uid, Old: old, New: now})
		}
	}
	for uid, now := range next {
		if _, ok := prev[uid]; !ok {
			out = append(out, MirrorChange{Static: uid, New: now})
		}
	}
	return out
}
