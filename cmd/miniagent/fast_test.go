package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/api/apitest"
	"github.com/miniagent/miniagent/agent/cli"
	"github.com/miniagent/miniagent/agent/cli/fast"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// daemonSide is one fake daemon behind the local API.
type daemonSide struct {
	b    *apitest.Backend
	sock string
}

func newDaemonSide(t *testing.T) daemonSide {
	b := apitest.New()
	sock := filepath.Join(t.TempDir(), "m.sock")
	apitest.Serve(t, api.NewServer(b, slog.New(slog.DiscardHandler)), sock)
	return daemonSide{b, sock}
}

type callResult struct {
	rc             int
	stdout, stderr string
}

// runFast runs args through agent/cli/fast alone; handled false means it
// left them to the full CLI.
func runFast(args []string, sock string) (callResult, bool) {
	var o, e bytes.Buffer
	rc, ok := fast.Run(context.Background(), append([]string{"--socket", sock}, args...), "/nonexistent", &o, &e)
	return callResult{rc, o.String(), e.String()}, ok
}

func runCLI(args []string, sock string) callResult {
	var o, e bytes.Buffer
	rc := cli.Main(append([]string{"--socket", sock}, args...), strings.NewReader(""), &o, &e)
	return callResult{rc, o.String(), e.String()}
}

func podYAML(ns, name, label, image string) string {
	meta := "  name: " + name + "\n"
	if ns != "" {
		meta += "  namespace: " + ns + "\n"
	}
	return "apiVersion: v1\nkind: Pod\nmetadata:\n" + meta + "  labels: {app: " + label + "}\n" +
		"spec:\n  containers:\n  - name: c\n    image: " + image + "\n    command: [sleep, \"3600\"]\n"
}

// TestFastApplyMatchesCLI applies the same files in the same order to two
// daemons, one through agent/cli/fast and one through the full CLI, and
// wants the same output at each step and the same pods sent.
func TestFastApplyMatchesCLI(t *testing.T) {
	f, c := newDaemonSide(t), newDaemonSide(t)
	dir := t.TempDir()
	for i, step := range []struct {
		args []string // FILE is the step's file
		file string
	}{
		{[]string{"apply", "-f", "FILE"}, podYAML("", "web", "web", "busybox")},
		{[]string{"apply", "-f", "FILE"}, podYAML("", "web", "web", "busybox")},
		{[]string{"apply", "--filename=FILE"}, podYAML("", "web", "web2", "busybox")},
		{[]string{"apply", "-n", "team", "-f", "FILE"}, podYAML("", "web", "web", "busybox")},
		{[]string{"-n", "team2", "apply", "-fFILE"}, podYAML("team2", "db", "db", "busybox")},
		{[]string{"apply", "-f", "FILE", "--namespace=team2"}, podYAML("team2", "db", "db", "busybox:1")},
		{[]string{"apply", "--force", "-f", "FILE"}, podYAML("", "web", "web3", "busybox")},
		{[]string{"apply", "-f", "FILE"}, "---\n# a comment\n" + podYAML("", "solo", "x", "busybox") + "---\n"},
		{[]string{"apply", "-f", "FILE"}, "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(podYAML("", "li", "l", "busybox"), "\n"), "\n", "\n  ") + "\n"},
		{[]string{"apply", "-f", "FILE"}, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"js"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`},
	} {
		file := filepath.Join(dir, fmt.Sprintf("step%d.yaml", i))
		if err := os.WriteFile(file, []byte(step.file), 0o644); err != nil {
			t.Fatal(err)
		}
		args := make([]string, len(step.args))
		for j, a := range step.args {
			args[j] = strings.ReplaceAll(a, "FILE", file)
		}
		got, ok := runFast(args, f.sock)
		if !ok {
			t.Errorf("step %d %q: fast left it to the full CLI", i, step.args)
			continue
		}
		want := runCLI(args, c.sock)
		if got != want {
			t.Errorf("step %d %q:\nfast %+v\ncli  %+v", i, step.args, got, want)
		}
		if want.rc != 0 || want.stdout == "" {
			t.Errorf("step %d %q: the CLI did not apply: %+v", i, step.args, want)
		}
	}
	fa, ca := f.b.Applied(), c.b.Applied()
	if len(fa) != len(ca) {
		t.Fatalf("fast sent %d pods, the CLI %d", len(fa), len(ca))
	}
	for i := range fa {
		if !apiequality.Semantic.DeepEqual(fa[i], ca[i]) {
			t.Errorf("pod %d sent differs:\nfast %+v\ncli  %+v", i, fa[i], ca[i])
		}
	}
	if f.b.Forced() != 1 || c.b.Forced() != 1 {
		t.Errorf("forced: fast %d, cli %d, want 1", f.b.Forced(), c.b.Forced())
	}
}

// TestFastApplyLeavesTheRest: whatever fast does not answer as the full
// CLI would, it leaves to it with nothing written and nothing changed,
// and the CLI then says what is wrong.
func TestFastApplyLeavesTheRest(t *testing.T) {
	d := newDaemonSide(t)
	d.b.Validate = func(p *v1.Pod) error {
		if p.Name == "refused" {
			return apierrors.NewForbidden(v1.Resource("pods"), p.Name, errors.New("refused by the test"))
		}
		return nil
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", podYAML("", "good", "g", "busybox"))
	for _, tc := range []struct {
		name string
		args []string
		cli  bool // the CLI fails too (false: it applies)
	}{
		{"unknown field", []string{"apply", "-f", write("bad.yaml", podYAML("", "bad", "b", "busybox")+"  bogus: 1\n")}, true},
		{"two pods", []string{"apply", "-f", write("two.yaml", podYAML("", "a", "a", "busybox")+"---\n"+podYAML("", "b", "b", "busybox"))}, false},
		{"no pod", []string{"apply", "-f", write("empty.yaml", "# nothing\n")}, true},
		{"no name", []string{"apply", "-f", write("noname.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {generateName: x-}\nspec: {containers: [{name: c, image: busybox}]}\n")}, false},
		{"namespace mismatch", []string{"apply", "-n", "a", "-f", write("nsb.yaml", podYAML("b", "nsb", "n", "busybox"))}, true},
		{"refused", []string{"apply", "-f", write("refused.yaml", podYAML("", "refused", "r", "busybox"))}, true},
		{"a directory", []string{"apply", "-f", dir}, true},
		{"stdin", []string{"apply", "-f", "-"}, true},
		{"two files", []string{"apply", "-f", good, "-f", good}, false},
		{"other flag", []string{"apply", "-f", good, "--dry-run=client"}, true},
		{"apply flag before the verb", []string{"-f", good, "apply"}, true},
		{"missing file", []string{"apply", "-f", filepath.Join(dir, "none.yaml")}, true},
	} {
		before, _ := d.b.ListPods(context.Background(), "")
		got, ok := runFast(tc.args, d.sock)
		if ok || got.stdout != "" || got.stderr != "" {
			t.Errorf("%s: fast answered %+v", tc.name, got)
		}
		after, _ := d.b.ListPods(context.Background(), "")
		if !apiequality.Semantic.DeepEqual(before, after) {
			t.Errorf("%s: fast changed the pods: %d before, %d after", tc.name, len(before), len(after))
		}
		res := runCLI(tc.args, d.sock)
		if (res.rc != 0) != tc.cli {
			t.Errorf("%s: the CLI: %+v, want failure %v", tc.name, res, tc.cli)
		}
	}
	if _, ok := runFast([]string{"apply", "-f", good}, filepath.Join(dir, "none.sock")); ok {
		t.Error("no daemon: fast answered")
	}
}

func readyPod(ns, name string, ready v1.ConditionStatus) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("u-" + name)}}
	p.Spec.Containers = []v1.Container{{Name: "c", Image: "busybox"}}
	p.Status.Phase = v1.PodPending
	p.Status.Conditions = []v1.PodCondition{{Type: v1.PodInitialized, Status: v1.ConditionTrue}, {Type: v1.PodReady, Status: ready}}
	return p
}

// TestFastWaitMatchesCLI: the same waits through fast and through the full
// CLI give the same output and exit code: met at once, met by a change
// seen on the watch, a wanted value, and the timeouts.
func TestFastWaitMatchesCLI(t *testing.T) {
	d := newDaemonSide(t)
	d.b.SetPod(readyPod("default", "up", v1.ConditionTrue))
	d.b.SetPod(readyPod("team", "down", v1.ConditionFalse))
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"met", []string{"wait", "--for=condition=Ready", "pod/up"}},
		{"case", []string{"wait", "--for", "condition=ready", "pods", "up", "--timeout=5s"}},
		{"value", []string{"wait", "-n", "team", "--for=condition=Ready=False", "po/down"}},
		{"initialized", []string{"--namespace=team", "wait", "--for=condition=Initialized", "pod/down"}},
		{"timeout", []string{"wait", "-n", "team", "--for=condition=Ready", "pod/down", "--timeout=150ms"}},
		{"timeout 0", []string{"wait", "-n", "team", "--for=condition=Ready", "pod/down", "--timeout=0"}},
		{"no such condition", []string{"wait", "--for=condition=Bogus", "pod/up", "--timeout=100ms"}},
	} {
		got, ok := runFast(tc.args, d.sock)
		if !ok {
			t.Errorf("%s: fast left it to the full CLI", tc.name)
			continue
		}
		if want := runCLI(tc.args, d.sock); got != want {
			t.Errorf("%s:\nfast %+v\ncli  %+v", tc.name, got, want)
		}
	}

	// A change on the watch: both wait until the pod becomes Ready.
	for _, side := range []string{"fast", "cli"} {
		d.b.SetPod(readyPod("default", "later", v1.ConditionFalse))
		// The earlier waits' watches end when the server sees their
		// connections close: none may be counted below.
		for d.b.Watchers() != 0 {
			time.Sleep(time.Millisecond)
		}
		done := make(chan callResult, 1)
		args := []string{"wait", "--for=condition=Ready", "pod/later", "--timeout=20s"}
		go func() {
			if side == "fast" {
				r, ok := runFast(args, d.sock)
				if !ok {
					r.stderr = "left to the full CLI"
				}
				done <- r
				return
			}
			done <- runCLI(args, d.sock)
		}()
		for d.b.Watchers() == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // past the first look at the pod
		select {
		case r := <-done:
			t.Fatalf("%s: returned before the change: %+v", side, r)
		default:
		}
		d.b.SetPod(readyPod("default", "later", v1.ConditionTrue))
		if r := <-done; r != (callResult{0, "pod/later condition met\n", ""}) {
			t.Errorf("%s: %+v", side, r)
		}
	}
}

// TestFastWaitLeavesTheRest: no such pod, a watch the daemon ends early,
// no daemon and the forms fast does not take all go to the full CLI, with
// nothing written.
func TestFastWaitLeavesTheRest(t *testing.T) {
	d := newDaemonSide(t)
	d.b.SetPod(readyPod("default", "down", v1.ConditionFalse))
	early := filepath.Join(t.TempDir(), "early.sock")
	l, err := net.Listen("unix", early)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "true" {
			w.WriteHeader(http.StatusOK) // and the stream ends at once
			return
		}
		fmt.Fprint(w, `{"metadata":{"name":"down"},"status":{"conditions":[{"type":"Ready","status":"False"}]}}`)
	})}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { hs.Close() })
	for _, tc := range []struct {
		name, sock string
		args       []string
	}{
		{"no such pod", d.sock, []string{"wait", "--for=condition=Ready", "pod/none"}},
		{"watch ended", early, []string{"wait", "--for=condition=Ready", "pod/down"}},
		{"no daemon", filepath.Join(t.TempDir(), "none.sock"), []string{"wait", "--for=condition=Ready", "pod/down"}},
		{"delete", d.sock, []string{"wait", "--for=delete", "pod/down", "--timeout=0"}},
		{"jsonpath", d.sock, []string{"wait", "--for=jsonpath={.status.phase}=Pending", "pod/down"}},
		{"selector", d.sock, []string{"wait", "--for=condition=Ready", "pods", "-l", "a=b"}},
		{"two pods", d.sock, []string{"wait", "--for=condition=Ready", "pod/a", "pod/b"}},
	} {
		if got, ok := runFast(tc.args, tc.sock); ok || got.stdout != "" || got.stderr != "" {
			t.Errorf("%s: fast answered %+v", tc.name, got)
		}
	}
}
