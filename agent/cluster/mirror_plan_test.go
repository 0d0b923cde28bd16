package cluster

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/sources"
)

func staticPod(name string, uid types.UID) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: uid,
			Labels: map[string]string{"app": name},
			Annotations: map[string]string{
				sources.ConfigSourceAnnotation: sources.SourceFile,
				sources.ConfigHashAnnotation:   string(uid),
				sources.ConfigSeenAnnotation:   "2026-12-02T03:00:00Z",
			}},
		Spec: v1.PodSpec{NodeName: "node-a", Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func apiMirror(name string, uid types.UID, hash string, deleting bool) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: uid,
		Annotations: map[string]string{ConfigMirrorAnnotation: hash}}}
	if deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func names(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name+"/"+string(p.UID))
	}
	slices.Sort(out)
	return out
}

func TestPlanMirrors(t *testing.T) {
	plain := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "taken", Namespace: "default", UID: "api-taken"}}
	for _, tc := range []struct {
		name            string
		statics, api    []*v1.Pod
		create, remove  []string
		valid           map[types.UID]MirrorRef
		conflictsWanted int
	}{
		{name: "nothing"},
		{name: "new static pod", statics: []*v1.Pod{staticPod("web", "s1")}, create: []string{"web/s1"}},
		{name: "mirror current", statics: []*v1.Pod{staticPod("web", "s1")}, api: []*v1.Pod{apiMirror("web", "m1", "s1", false)},
			valid: map[types.UID]MirrorRef{"s1": {Namespace: "default", Name: "web", UID: "m1"}}},
		{name: "mirror being deleted", statics: []*v1.Pod{staticPod("web", "s1")}, api: []*v1.Pod{apiMirror("web", "m1", "s1", true)},
			remove: []string{"web/m1"}},
		{name: "mirror of an older manifest", statics: []*v1.Pod{staticPod("web", "s2")}, api: []*v1.Pod{apiMirror("web", "m1", "s1", false)},
			remove: []string{"web/m1"}},
		{name: "static pod gone", api: []*v1.Pod{apiMirror("web", "m1", "s1", false), plain},
			remove: []string{"web/m1"}},
		{name: "name held by a pod that is no mirror", statics: []*v1.Pod{staticPod("taken", "s3")}, api: []*v1.Pod{plain},
			conflictsWanted: 1},
		{name: "several", statics: []*v1.Pod{staticPod("a", "sa"), staticPod("b", "sb")},
			api:    []*v1.Pod{apiMirror("b", "mb", "sb", false), apiMirror("c", "mc", "sc", false)},
			create: []string{"a/sa"}, remove: []string{"c/mc"},
			valid: map[types.UID]MirrorRef{"sb": {Namespace: "default", Name: "b", UID: "mb"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planMirrors(tc.statics, tc.api)
			if got := names(p.create); !slices.Equal(got, tc.create) {
				t.Errorf("create = %v, want %v", got, tc.create)
			}
			if got := names(p.remove); !slices.Equal(got, tc.remove) {
				t.Errorf("remove = %v, want %v", got, tc.remove)
			}
			if len(p.valid) != len(tc.valid) {
				t.Errorf("valid = %v, want %v", p.valid, tc.valid)
			}
			for k, v := range tc.valid {
				if p.valid[k] != v {
					t.Errorf("valid[%s] = %v, want %v", k, p.valid[k], v)
				}
			}
			if len(p.conflicts) != tc.conflictsWanted {
				t.Errorf("conflicts = %v, want %d", names(p.conflicts), tc.conflictsWanted)
			}
		})
	}
}

func TestMirrorPodContent(t *testing.T) {
	s := staticPod("web-node-a", "s1")
	m := mirrorPod(s, "node-a", "node-uid")
	if m.Annotations[ConfigMirrorAnnotation] != "s1" || m.Annotations[sources.ConfigSourceAnnotation] != "file" ||
		m.Annotations[sources.ConfigHashAnnotation] != "s1" || m.Annotations[sources.ConfigSeenAnnotation] == "" {
		t.Errorf("annotations = %v", m.Annotations)
	}
	if m.UID != "" || m.ResourceVersion != "" || m.Spec.NodeName != "node-a" || m.Labels["app"] != "web-node-a" {
		t.Errorf("mirror pod meta/spec = %+v / nodeName %q", m.ObjectMeta, m.Spec.NodeName)
	}
	if len(m.OwnerReferences) != 1 {
		t.Fatalf("owner references = %v", m.OwnerReferences)
	}
	o := m.OwnerReferences[0]
	if o.APIVersion != "v1" || o.Kind != "Node" || o.Name != "node-a" || o.UID != "node-uid" || o.Controller == nil || !*o.Controller || o.BlockOwnerDeletion != nil {
		t.Errorf("owner reference = %+v (NodeRestriction wants a controller reference to the Node, no blockOwnerDeletion)", o)
	}
	// The static pod itself is not changed.
	if _, ok := s.Annotations[ConfigMirrorAnnotation]; ok {
		t.Error("mirrorPod changed the static pod's annotations")
	}
	m.Spec.Containers[0].Image = "other"
	if s.Spec.Containers[0].Image != "busybox" {
		t.Error("mirrorPod shares the static pod's spec")
	}
}

func TestMirrorMappingAndChanges(t *testing.T) {
	web, db := staticPod("web", "s1"), staticPod("db", "s2")
	refOld := MirrorRef{Namespace: "default", Name: "web", UID: "m-old"}
	refNew := MirrorRef{Namespace: "default", Name: "web", UID: "m-new"}
	refDB := MirrorRef{Namespace: "default", Name: "db", UID: "m-db"}
	// web's mirror was deleted (being deleted), then created again; db's
	// mirror was created before and the informer does not show it yet.
	prev := map[types.UID]MirrorRef{"s1": refOld, "s2": refDB}
	plan := mirrorPlan{remove: []*v1.Pod{apiMirror("web", "m-old", "s1", true)}, valid: map[types.UID]MirrorRef{}}
	next := mirrorMapping(prev, []*v1.Pod{web, db}, plan, map[types.UID]MirrorRef{"s1": refNew})
	if next["s1"] != refNew || next["s2"] != refDB || len(next) != 2 {
		t.Errorf("mapping = %v", next)
	}
	ch := mirrorChanges(prev, next)
	if len(ch) != 1 || ch[0] != (MirrorChange{Static: "s1", Old: refOld, New: refNew}) {
		t.Errorf("changes = %+v", ch)
	}
	// Deleted and not created again (the apiserver is down): no mirror.
	next = mirrorMapping(prev, []*v1.Pod{web, db}, plan, nil)
	if _, ok := next["s1"]; ok {
		t.Errorf("mapping after a delete = %v, want no mirror for s1", next)
	}
	// The static pod is gone: its mirror is forgotten.
	next = mirrorMapping(prev, []*v1.Pod{db}, mirrorPlan{valid: map[types.UID]MirrorRef{}}, nil)
	if ch := mirrorChanges(prev, next); len(ch) != 1 || ch[0] != (MirrorChange{Static: "s1", Old: refOld}) {
		t.Errorf("changes after the static pod went = %+v", ch)
	}
}
