package cli

import (
	"reflect"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLabelNode(t *testing.T) {
	e := newEnv(t)
	e.b.NodeObj.Labels = map[string]string{"kubernetes.io/hostname": "node1", "disk": "ssd"}
	steps := []struct {
		args       []string
		out, errs  string
		rc         int
		wantLabels map[string]string
	}{
		{[]string{"label", "node", "node1", "zone=a"}, "node/node1 labeled\n", "", 0,
			map[string]string{"kubernetes.io/hostname": "node1", "disk": "ssd", "zone": "a"}},
		{[]string{"label", "node", "node1", "zone=b"}, "", "error: 'zone' already has a value (a), and --overwrite is false\n", 1, nil},
		{[]string{"label", "node", "node1", "zone=a"}, "node/node1 not labeled\n", "", 0, nil},
		{[]string{"label", "nodes", "node1", "zone=b", "--overwrite"}, "node/node1 labeled\n", "", 0,
			map[string]string{"kubernetes.io/hostname": "node1", "disk": "ssd", "zone": "b"}},
		{[]string{"label", "node/node1", "zone-"}, "node/node1 unlabeled\n", "", 0,
			map[string]string{"kubernetes.io/hostname": "node1", "disk": "ssd"}},
		{[]string{"label", "node", "node1", "gone-"}, "label \"gone\" not found.\nnode/node1 not labeled\n", "", 0, nil},
		{[]string{"label", "node", "node1", "disk-", "rack=r1"}, "node/node1 label(s) changed\n", "", 0,
			map[string]string{"kubernetes.io/hostname": "node1", "rack": "r1"}},
		{[]string{"label", "node", "node1", "a=b=c"}, "", "error: invalid label spec: a=b=c\n", 1, nil},
		{[]string{"label", "node", "node1", "a=-bad-"}, "", "error: invalid label value: \"a=-bad-\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')\n", 1, nil},
		{[]string{"label", "node", "node1", "x=1", "x-"}, "", "error: can not both modify and remove a label in the same command\n", 1, nil},
		{[]string{"label", "node", "node1"}, "", "error: at least one label update is required\n", 1, nil},
		{[]string{"label", "node", "x=1"}, "", "error: resource(s) were provided, but no name was specified\n", 1, nil},
		{[]string{"label", "x=1"}, "", "error: one or more resources must be specified as <resource> <name> or <resource>/<name>\n", 1, nil},
		{[]string{"label", "node", "other", "x=1"}, "", "Error from server (NotFound): nodes \"other\" not found\n", 1, nil},
	}
	for _, s := range steps {
		out, errs, rc := e.cli("", s.args...)
		if out != s.out || errs != s.errs || rc != s.rc {
			t.Fatalf("%v: got (%q, %q, %d), want (%q, %q, %d)", s.args, out, errs, rc, s.out, s.errs, s.rc)
		}
		if s.wantLabels != nil && !reflect.DeepEqual(e.b.NodeObj.Labels, s.wantLabels) {
			t.Fatalf("%v: labels %v, want %v", s.args, e.b.NodeObj.Labels, s.wantLabels)
		}
	}
}

func TestTaintNode(t *testing.T) {
	e := newEnv(t)
	taints := func(ts ...v1.Taint) []v1.Taint { return ts }
	stamp := metav1.NewTime(now)
	steps := []struct {
		args      []string
		out, errs string
		rc        int
		want      []v1.Taint
	}{
		{[]string{"taint", "node", "node1", "dedicated=db:NoSchedule"}, "node/node1 tainted\n", "", 0,
			taints(v1.Taint{Key: "dedicated", Value: "db", Effect: v1.TaintEffectNoSchedule})},
		{[]string{"taint", "node", "node1", "dedicated=web:NoSchedule"}, "", "error: Node node1 already has dedicated taint(s) with same effect(s) and --overwrite is false\n", 1, nil},
		{[]string{"taint", "nodes", "node1", "dedicated=web:NoSchedule", "--overwrite"}, "node/node1 modified\n", "", 0,
			taints(v1.Taint{Key: "dedicated", Value: "web", Effect: v1.TaintEffectNoSchedule})},
		{[]string{"taint", "node", "node1", "evict:NoExecute", "dedicated:PreferNoSchedule"}, "node/node1 tainted\n", "", 0,
			taints(v1.Taint{Key: "evict", Effect: v1.TaintEffectNoExecute, TimeAdded: &stamp},
				v1.Taint{Key: "dedicated", Effect: v1.TaintEffectPreferNoSchedule},
				v1.Taint{Key: "dedicated", Value: "web", Effect: v1.TaintEffectNoSchedule})},
		{[]string{"taint", "node", "node1", "dedicated:NoSchedule-"}, "node/node1 untainted\n", "", 0,
			taints(v1.Taint{Key: "evict", Effect: v1.TaintEffectNoExecute, TimeAdded: &stamp},
				v1.Taint{Key: "dedicated", Effect: v1.TaintEffectPreferNoSchedule})},
		{[]string{"taint", "node", "node1", "dedicated:NoSchedule-"}, "", "error: taint \"dedicated:NoSchedule\" not found\n", 1, nil},
		{[]string{"taint", "node", "node1", "nope-", "other:NoExecute-"}, "", "error: [taint \"nope\" not found, taint \"other:NoExecute\" not found]\n", 1, nil},
		{[]string{"taint", "node/node1", "evict-", "dedicated-"}, "node/node1 untainted\n", "", 0, taints()},
		{[]string{"taint", "node", "node1", "key=value"}, "", "error: invalid taint spec: key=value, name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')\n", 1, nil},
		{[]string{"taint", "node", "node1", "key:Sometimes"}, "", "error: invalid taint effect: Sometimes, unsupported taint effect\n", 1, nil},
		{[]string{"taint", "node", "node1", "a=b=c:NoSchedule"}, "", "error: invalid taint spec: a=b=c:NoSchedule\n", 1, nil},
		{[]string{"taint", "node", "node1", "a:b:c"}, "", "error: invalid taint spec: a:b:c\n", 1, nil},
		{[]string{"taint", "node", "node1", "k:NoSchedule", "k:NoSchedule-"}, "", "error: can not both modify and remove the following taint(s) in the same command: k:NoSchedule\n", 1, nil},
		{[]string{"taint", "node", "node1", "k:NoSchedule", "k=v:NoSchedule"}, "", "error: duplicated taints with the same key and effect: {k v NoSchedule <nil>}\n", 1, nil},
		{[]string{"taint", "node", "node1"}, "", "error: at least one taint update is required\n", 1, nil},
		{[]string{"taint", "pod", "web", "k:NoSchedule"}, "", "error: miniagent can only taint nodes, not pods\n", 1, nil},
	}
	for _, s := range steps {
		out, errs, rc := e.cli("", s.args...)
		if out != s.out || errs != s.errs || rc != s.rc {
			t.Fatalf("%v: got (%q, %q, %d), want (%q, %q, %d)", s.args, out, errs, rc, s.out, s.errs, s.rc)
		}
		if s.want != nil {
			got := e.b.NodeObj.Spec.Taints
			if len(got) != len(s.want) {
				t.Fatalf("%v: taints %v, want %v", s.args, got, s.want)
			}
			for i := range got {
				g, w := got[i], s.want[i]
				if g.Key != w.Key || g.Value != w.Value || g.Effect != w.Effect || (g.TimeAdded == nil) != (w.TimeAdded == nil) ||
					(g.TimeAdded != nil && !g.TimeAdded.Time.Equal(w.TimeAdded.Time)) {
					t.Fatalf("%v: taint %d = %+v, want %+v", s.args, i, g, w)
				}
			}
		}
	}
}

func TestTaintKeepsTimeAddedOfUnchangedTaint(t *testing.T) {
	old := metav1.NewTime(now.Add(-time.Hour))
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: v1.NodeSpec{Taints: []v1.Taint{{Key: "k", Effect: v1.TaintEffectNoExecute, TimeAdded: &old}}}}
	got, verdict, err := applyTaints(node, []v1.Taint{{Key: "k", Effect: v1.TaintEffectNoExecute}}, nil, true, now)
	if err != nil || verdict != "modified" || len(got) != 1 || !got[0].TimeAdded.Equal(&old) {
		t.Fatalf("got %+v %q %v", got, verdict, err)
	}
	got, _, _ = applyTaints(node, []v1.Taint{{Key: "k", Value: "v2", Effect: v1.TaintEffectNoExecute}}, nil, true, now)
	if !got[0].TimeAdded.Time.Equal(now) {
		t.Fatalf("changed taint keeps old time: %+v", got[0])
	}
}
