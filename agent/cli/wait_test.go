package cli

import (
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

func TestParseWaitFor(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    waitFor // jp fields compared by expression
		wantErr string
	}{
		{in: "delete", want: waitFor{delete: true}},
		{in: "condition=Ready", want: waitFor{condition: "Ready", condValue: "true"}},
		{in: "condition=Ready=false", want: waitFor{condition: "Ready", condValue: "false"}},
		{in: "condition=ContainersReady=True", want: waitFor{condition: "ContainersReady", condValue: "True"}},
		{in: "jsonpath={.status.phase}=Running", want: waitFor{jpExpr: "{.status.phase}", jpValue: "Running"}},
		{in: "jsonpath='{.status.phase}'=Running", want: waitFor{jpExpr: "{.status.phase}", jpValue: "Running"}},
		{in: "jsonpath=.status.phase=Running", want: waitFor{jpExpr: "{.status.phase}", jpValue: "Running"}},
		{in: "jsonpath={.status.podIP}", want: waitFor{jpExpr: "{.status.podIP}", jpAny: true}},
		{in: "", wantErr: "--for must be set to one of: delete, condition=condition-name, jsonpath='{JSONPath expression}'=[JSONPath value]"},
		{in: "ready", wantErr: `unrecognized condition: "ready"`},
		{in: "condition=", wantErr: `unrecognized condition: "condition="`},
		{in: "delete=x", wantErr: `unrecognized condition: "delete=x"`},
		{in: "jsonpath=.status.phase=", wantErr: "jsonpath wait has to have a value after equal sign, like --for=jsonpath='{.status.readyReplicas}'=3"},
		{in: "jsonpath='{.status.phase}", wantErr: `unterminated quote in jsonpath expression "'{.status.phase}"`},
	} {
		got, err := parseWaitFor(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		got.jp = nil
		if got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func readyPod(name string, ready v1.ConditionStatus) *v1.Pod {
	p := statusPod(name)
	p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: ready}}
	return p
}

func TestWaitCondition(t *testing.T) {
	e := newEnv(t)
	e.b.SetPod(readyPod("a", v1.ConditionTrue))
	e.b.SetPod(readyPod("b", v1.ConditionFalse))
	if got := e.mustRun("wait", "--for=condition=Ready", "pod/a"); got != "pod/a condition met\n" {
		t.Errorf("ready pod: %q", got)
	}
	if got := e.mustRun("wait", "--for=condition=Ready=false", "pods", "b"); got != "pod/b condition met\n" {
		t.Errorf("=false: %q", got)
	}
	if got := e.mustRun("wait", "--for", "jsonpath='{.status.phase}'=Running", "pod/a", "pod/b"); got != "pod/a condition met\npod/b condition met\n" {
		t.Errorf("jsonpath, two pods: %q", got)
	}
	out, errs, rc := e.cli("", "wait", "--for=condition=Ready", "pod/b", "--timeout=100ms")
	if rc != 1 || out != "" || errs != "error: timed out waiting for the condition on pods/b\n" {
		t.Errorf("timeout: %d %q %q", rc, out, errs)
	}
	out, errs, rc = e.cli("", "wait", "--for=condition=Ready", "pod/b", "--timeout=0")
	if rc != 1 || out != "" || errs != "error: timed out waiting for the condition on pods/b\n" {
		t.Errorf("timeout 0: %d %q %q", rc, out, errs)
	}
	_, errs, rc = e.cli("", "wait", "--for=condition=Ready", "pod/nope")
	if rc != 1 || errs != "Error from server (NotFound): pods \"nope\" not found\n" {
		t.Errorf("missing: %d %q", rc, errs)
	}
	_, errs, rc = e.cli("", "wait", "--for=condition=Ready", "-l", "app=none")
	if rc != 1 || errs != "error: no matching resources found\n" {
		t.Errorf("no match: %d %q", rc, errs)
	}
	_, errs, rc = e.cli("", "wait", "pod/a")
	if rc != 1 || errs != "error: --for must be set to one of: delete, condition=condition-name, jsonpath='{JSONPath expression}'=[JSONPath value]\n" {
		t.Errorf("no --for: %d %q", rc, errs)
	}

	// b becomes ready while we wait: the watch reports it.
	for e.b.Watchers() != 0 {
		time.Sleep(time.Millisecond)
	}
	go func() {
		for e.b.Watchers() == 0 {
			time.Sleep(time.Millisecond)
		}
		e.b.SetPod(readyPod("b", v1.ConditionTrue))
	}()
	if got := e.mustRun("wait", "--for=condition=Ready", "--all", "--timeout=10s"); got != "pod/a condition met\npod/b condition met\n" {
		t.Errorf("--all: %q", got)
	}
}

func TestWaitDelete(t *testing.T) {
	e := newEnv(t)
	a := readyPod("a", v1.ConditionTrue)
	a.Labels = map[string]string{"app": "x"}
	e.b.SetPod(a)
	if got := e.mustRun("wait", "--for=delete", "pod/gone"); got != "" {
		t.Errorf("absent pod: %q", got)
	}
	for e.b.Watchers() != 0 { // the first wait's watch ends on the server
		time.Sleep(time.Millisecond)
	}
	go func() {
		for e.b.Watchers() == 0 {
			time.Sleep(time.Millisecond)
		}
		e.b.DeletePod(t.Context(), "default", "a", nil, false)
	}()
	if got := e.mustRun("wait", "--for=delete", "-l", "app=x", "--timeout=10s"); got != "pod/a condition met\n" {
		t.Errorf("deleted: %q", got)
	}
}

// TestWaitTimeoutIsForTheWholeCommand: --timeout bounds the command, as
// kubectl's: four pods that never get ready time out together, not one
// after another.
func TestWaitTimeoutIsForTheWholeCommand(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c", "d"} {
		e.b.SetPod(readyPod(n, v1.ConditionFalse))
	}
	start := time.Now()
	out, errs, rc := e.cli("", "wait", "--for=condition=Ready", "--all", "--timeout=400ms")
	took := time.Since(start)
	want := "error: timed out waiting for the condition on pods/a\nerror: timed out waiting for the condition on pods/b\n" +
		"error: timed out waiting for the condition on pods/c\nerror: timed out waiting for the condition on pods/d\n"
	if rc != 1 || out != "" || errs != want {
		t.Errorf("rc %d, stdout %q, stderr %q; want 1, \"\", %q", rc, out, errs, want)
	}
	// One after another would take at least 1.6 s.
	if took < 400*time.Millisecond || took > 1200*time.Millisecond {
		t.Errorf("took %v, want about the one --timeout of 400ms", took)
	}
}

func TestWaitAllNamespaces(t *testing.T) {
	e := newEnv(t)
	a := readyPod("a", v1.ConditionTrue)
	b := readyPod("b", v1.ConditionTrue)
	b.Namespace = "other"
	c := readyPod("c", v1.ConditionFalse)
	c.Namespace = "other"
	c.Labels = map[string]string{"app": "x"}
	for _, p := range []*v1.Pod{a, b, c} {
		e.b.SetPod(p)
	}
	out, errs, rc := e.cli("", "wait", "--for=condition=Ready", "--all", "-A", "--timeout=0")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(lines)
	if rc != 1 || strings.Join(lines, "\n") != "pod/a condition met\npod/b condition met" || errs != "error: timed out waiting for the condition on pods/c\n" {
		t.Errorf("--all -A --timeout=0: %d %q %q", rc, out, errs)
	}
	if got := e.mustRun("wait", "--for=condition=Ready=false", "-l", "app=x", "--all-namespaces"); got != "pod/c condition met\n" {
		t.Errorf("-l --all-namespaces: %q", got)
	}
	if got := e.mustRun("wait", "--for=condition=Ready", "--all"); got != "pod/a condition met\n" {
		t.Errorf("--all without -A, namespace default: %q", got)
	}
	// kubectl's forms with the resource type and no name.
	for _, args := range [][]string{{"pods", "--all"}, {"pod", "--all"}, {"pods", "-l", "app=x", "-A", "--for=condition=Ready=false"}} {
		want := "pod/a condition met\n"
		if args[1] == "-l" {
			want = "pod/c condition met\n"
		}
		full := append([]string{"wait", "--for=condition=Ready"}, args...)
		if got := e.mustRun(full...); got != want {
			t.Errorf("%v: %q, want %q", full, got, want)
		}
	}
	_, errs, rc = e.cli("", "wait", "--for=condition=Ready", "pods")
	if rc != 1 || errs != "error: resource(s) were provided, but no name was specified\n" {
		t.Errorf("pods without a name or selector: %d %q", rc, errs)
	}
	_, errs, rc = e.cli("", "wait", "--for=condition=Ready", "pod/a", "-A")
	if rc != 1 || errs != "error: a resource cannot be retrieved by name across all namespaces\n" {
		t.Errorf("name with -A: %d %q", rc, errs)
	}
}
