package cli

import (
	"bytes"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
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

// jsonpathPod is a pod with most of what a template may walk: maps, lists,
// nested lists, quantities, int-or-strings, timestamps and null fields.
func jsonpathPod() *v1.Pod {
	p := statusPod("web")
	p.Kind, p.APIVersion = "Pod", "v1"
	p.Labels = map[string]string{"app": "web", "k8s.io/tier": "front"}
	p.Annotations = map[string]string{"a.b/c": "d", "empty": ""}
	p.Spec.NodeName = "node1"
	p.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: v1.ProtocolTCP}, {ContainerPort: 53, Protocol: v1.ProtocolUDP}}
	p.Spec.Containers[0].Command = []string{"sh", "-c", "httpd -f"}
	p.Spec.Containers[0].Resources.Limits = v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi"), v1.ResourceCPU: resource.MustParse("500m")}
	p.Spec.Containers[0].ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}, PeriodSeconds: 1}
	p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "side", Image: "busybox", Args: []string{}})
	p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}, {Type: v1.PodScheduled, Status: v1.ConditionTrue}}
	p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs("side", terminated(137, "OOMKilled"), false, 3))
	return p
}

// FuzzJSONPathPrinter: `get -o jsonpath=TEMPLATE` with an arbitrary template
// over a fixed pod and over a List of pods must not panic; errors are fine.
func FuzzJSONPathPrinter(f *testing.F) {
	for _, s := range []string{
		"{.metadata.name}", "{.status.containerStatuses[*].state}", `{range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}`,
		"{.spec.missing}", "{.metadata.labels}", "{.metadata.annotations.a\\.b/c}", "{.metadata.labels['k8s.io/tier']}",
		`{.spec.containers[?(@.name=="side")].image}`, "{.spec.containers[0].ports[?(@.containerPort>60)].name}",
		"{..name}", "{.status.containerStatuses[-1:].restartCount}", "{.spec.containers[::2].name}", "{.items[1:0]}", "{$}", "{@}",
		"{.spec.containers[*].resources.limits.memory}", "{range .spec.containers[*]}{range .ports[*]}{.name}{end}{end}",
		// Made client-go's jsonpath panic (reflect.Value.Type on a zero
		// Value in evalArray); found by this target.
		"{range .x}{[0]}{end}", "{range.00}{[]}",
		"plain text", "{", "}", "{{}}", "{.a[}", "{end}", "{range .x}", `{"\u00e9"}`, "{.spec.containers[0.5]}", "{.items[0][0]}",
	} {
		f.Add(s)
	}
	pod := jsonpathPod()
	other := jsonpathPod()
	other.Name, other.Labels, other.Spec.Containers = "other", nil, nil
	f.Fuzz(func(t *testing.T, tmpl string) {
		p, err := newPrinter("jsonpath=" + tmpl)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		p.printObject(&buf, pod.DeepCopy(), "pod", []string{pod.Name})
		buf.Reset()
		p.printObject(&buf, list([]any{pod.DeepCopy(), other.DeepCopy()}), "pod", []string{pod.Name, other.Name})
	})
}

// A template that makes client-go's jsonpath panic is an error of the
// command, as for any template that fails to execute.
func TestJSONPathPanicIsError(t *testing.T) {
	e := newEnv(t)
	e.b.SetPod(statusPod("web"))
	out, errs, rc := e.cli("", "get", "pods", "web", "-o", "jsonpath={range .x}{[0]}{end}")
	if rc != 1 || out != "" || !strings.HasPrefix(errs, `error: error executing jsonpath "{range .x}{[0]}{end}": `) {
		t.Errorf("got (%q, %q, %d), want an execution error", out, errs, rc)
	}
}
