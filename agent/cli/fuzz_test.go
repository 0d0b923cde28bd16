package cli

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The fuzz targets of the CLI's parsers take their arguments as one string,
// one argument per line.
func fuzzArgs(s string) []string { return strings.Split(s, "\n") }

// FuzzLabelSpecs: parseLabelSpecs must not panic; specs formatted back from
// what it parsed ("k=v", "k-") parse to the same; applyLabels on a fixed
// node sets and removes exactly what was asked.
func FuzzLabelSpecs(f *testing.F) {
	for _, s := range []string{"zone=a", "zone-", "disk-\nrack=r1", "a=b=c", "a=-bad-", "x=1\nx-", "=v", "-", "k--", "k=", "k=v\nk=w", "a.b/c=d\nkubernetes.io/hostname-"} {
		f.Add(s)
	}
	old := map[string]string{"kubernetes.io/hostname": "node1", "disk": "ssd", "zone": "a"}
	f.Fuzz(func(t *testing.T, in string) {
		set, remove, err := parseLabelSpecs(fuzzArgs(in))
		if err != nil {
			return
		}
		var specs []string
		for _, k := range slices.Sorted(maps.Keys(set)) {
			specs = append(specs, k+"="+set[k])
		}
		for _, k := range remove {
			specs = append(specs, k+"-")
		}
		set2, remove2, err := parseLabelSpecs(specs)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", specs, err)
		}
		if !maps.Equal(set, set2) || !slices.Equal(remove, remove2) {
			t.Fatalf("round trip of %q: (%v, %q), want (%v, %q)", specs, set2, remove2, set, remove)
		}
		for _, overwrite := range []bool{false, true} {
			got, verdict, err := applyLabels(old, set, remove, overwrite)
			if err != nil {
				if overwrite {
					t.Fatalf("applyLabels with --overwrite: %v", err)
				}
				continue
			}
			for k, v := range set {
				if got[k] != v {
					t.Fatalf("label %q = %q after setting %q", k, got[k], v)
				}
			}
			for _, k := range remove {
				if _, ok := got[k]; ok {
					t.Fatalf("label %q still set after removing it", k)
				}
			}
			if verdict == "not labeled" && !maps.Equal(got, old) {
				t.Fatalf("%q, but the labels changed to %v", verdict, got)
			}
		}
	})
}

// FuzzTaintSpecs: parseTaint and parseTaintSpecs must not panic; a parsed
// taint formatted with Taint.ToString parses to the same taint; applyTaints
// on a fixed node adds each taint once and leaves no removed taint.
func FuzzTaintSpecs(f *testing.F) {
	for _, s := range []string{"dedicated=db:NoSchedule", "evict:NoExecute\ndedicated:PreferNoSchedule", "dedicated:NoSchedule-", "nope-\nother:NoExecute-",
		"key=value", "key:Sometimes", "a=b=c:NoSchedule", "a:b:c", "k:NoSchedule\nk:NoSchedule-", "k", "-", ":NoSchedule", "=:NoExecute", "example.com/gpu=:NoSchedule"} {
		f.Add(s)
	}
	added := metav1.NewTime(now.Add(-time.Hour))
	node := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}, Spec: v1.NodeSpec{Taints: []v1.Taint{
		{Key: "dedicated", Value: "db", Effect: v1.TaintEffectNoSchedule},
		{Key: "evict", Effect: v1.TaintEffectNoExecute, TimeAdded: &added},
		{Key: "k", Effect: v1.TaintEffectPreferNoSchedule},
	}}}
	f.Fuzz(func(t *testing.T, in string) {
		for _, s := range fuzzArgs(in) {
			if tn, err := parseTaint(s); err == nil {
				back, err := parseTaint(tn.ToString())
				if err != nil || back != tn {
					t.Fatalf("parseTaint(%q) = %+v; its ToString %q parses to %+v, %v", s, tn, tn.ToString(), back, err)
				}
			}
		}
		add, remove, err := parseTaintSpecs(fuzzArgs(in))
		if err != nil {
			return
		}
		var specs []string
		for _, tn := range add {
			specs = append(specs, tn.ToString())
		}
		for _, tn := range remove {
			specs = append(specs, tn.ToString()+"-")
		}
		add2, remove2, err := parseTaintSpecs(specs)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", specs, err)
		}
		if !reflect.DeepEqual(add, add2) || !reflect.DeepEqual(remove, remove2) {
			t.Fatalf("round trip of %q: (%+v, %+v), want (%+v, %+v)", specs, add2, remove2, add, remove)
		}
		for _, overwrite := range []bool{false, true} {
			got, _, err := applyTaints(node, add, remove, overwrite, now)
			if err != nil {
				continue
			}
			for _, a := range add {
				n := 0
				for _, g := range got {
					if g.MatchTaint(&a) {
						n++
						if g.Value != a.Value {
							t.Fatalf("taint %s has value %q after setting %q", a.ToString(), g.Value, a.Value)
						}
					}
				}
				if n != 1 {
					t.Fatalf("taint %s is there %d times after adding it: %+v", a.ToString(), n, got)
				}
			}
			for _, r := range remove {
				for _, g := range got {
					if g.Key == r.Key && (r.Effect == "" || g.Effect == r.Effect) {
						t.Fatalf("taint %s still there after removing %s", g.ToString(), r.ToString())
					}
				}
			}
		}
	})
}

// FuzzLabelSelector: the -l selector of `get pods` (labels.Parse, then
// Matches against each pod's labels) must not panic, and a parsed selector
// printed with String parses to a selector with the same text and the same
// verdict on a few label sets.
func FuzzLabelSelector(f *testing.F) {
	for _, s := range []string{"app=web", "app==web,tier!=db", "app in (web,db),!legacy", "env notin (prod)", "x", "!x", "a>1", "a<10,b", "app in ()", "a,", "k8s.io/app=web", "a=b=c", "(", "a in (b,c", "a gt 3"} {
		f.Add(s)
	}
	sets := []labels.Set{nil, {"app": "web"}, {"app": "db", "tier": "db", "a": "5"}, {"legacy": "", "env": "prod", "k8s.io/app": "web", "a": "100"}}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := labels.Parse(s)
		if err != nil {
			return
		}
		text := sel.String()
		again, err := labels.Parse(text)
		if err != nil {
			t.Fatalf("selector %q printed as %q, which does not parse: %v", s, text, err)
		}
		if again.String() != text {
			t.Fatalf("selector %q printed as %q, re-parsed prints %q", s, text, again.String())
		}
		for _, ls := range sets {
			if sel.Matches(ls) != again.Matches(ls) {
				t.Fatalf("selector %q and its re-parse %q disagree on %v", s, text, ls)
			}
		}
	})
}
