package main

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/api/apitest"
	"github.com/miniagent/miniagent/agent/cli"
	"github.com/miniagent/miniagent/agent/cli/fast"
	"github.com/miniagent/miniagent/agent/kubeapi"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestIsDaemonVerb(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"daemon"}, true},
		{[]string{"daemon", "--root-dir", "/x"}, true},
		{[]string{"crilog-shim", "--path", "x"}, true},
		{[]string{"kubeconfig", "--root-dir", "/x"}, true},
		{[]string{"image", "import", "a.tar"}, true},
		{[]string{"image"}, false},
		{[]string{"image", "ls"}, false},
		{[]string{"image", "pull", "import"}, false},
		{[]string{"get", "pods"}, false},
		{[]string{"get", "daemon"}, false},
		{[]string{"--socket", "s", "get", "pods"}, false},
		{[]string{"--help"}, false},
	}
	for _, tt := range tests {
		if got := isDaemonVerb(tt.args); got != tt.want {
			t.Errorf("isDaemonVerb(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// TestFrontLinksNoKubernetes keeps the entry point small: the standard
// library (without net, so the binary is static) and agent/cli/fast
// only, so its start-up costs no package init of client-go, apimachinery
// or the CLI.
func TestFrontLinksNoKubernetes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "net", "runtime/cgo", "os/user", "net/http", "crypto/tls":
			// net (and os/user) link the C resolver: a dynamic binary
			// whose libc start-up costs more than the whole call.
			t.Errorf("cmd/miniagent links %s", p)
		}
		first, _, _ := strings.Cut(p, "/")
		if !strings.Contains(first, ".") || strings.HasPrefix(p, "vendor/") {
			continue // the standard library
		}
		switch p {
		case "github.com/miniagent/miniagent/cmd/miniagent", "github.com/miniagent/miniagent/agent/cli/fast":
			continue
		}
		t.Errorf("cmd/miniagent links %s", p)
	}
}

func TestDefaultSocket(t *testing.T) {
	if defaultSocket != cli.DefaultSocket {
		t.Fatalf("defaultSocket %q, cli.DefaultSocket %q", defaultSocket, cli.DefaultSocket)
	}
}

// TestFastGetMatchesCLI runs each `get pods` form agent/cli/fast answers
// through both it and the full CLI against one local API and wants the same
// bytes, stdout and stderr.
func TestFastGetMatchesCLI(t *testing.T) {
	b := apitest.New()
	now := time.Now()
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }
	mk := func(ns, name string, labels map[string]string, mut func(*v1.Pod)) {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, CreationTimestamp: ago(3 * time.Hour)}}
		p.Spec.Containers = []v1.Container{{Name: "main", Image: "busybox"}}
		p.Spec.NodeName = "node-a"
		p.Status.Phase = v1.PodRunning
		p.Status.PodIP = "10.88.0.7"
		p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "main", Ready: true, State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: ago(time.Hour)}}}}
		if mut != nil {
			mut(p)
		}
		b.SetPod(p)
	}
	mk("default", "web-with-a-long-name", map[string]string{"app": "web"}, nil)
	mk("default", "crash", map[string]string{"app": "batch"}, func(p *v1.Pod) {
		p.Status.ContainerStatuses[0] = v1.ContainerStatus{Name: "main", RestartCount: 4,
			State:                v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(2 * time.Hour)}}}
	})
	mk("default", "init", nil, func(p *v1.Pod) {
		p.Spec.InitContainers = []v1.Container{{Name: "setup"}}
		p.Status.Phase = v1.PodPending
		p.Status.InitContainerStatuses = []v1.ContainerStatus{{Name: "setup", State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}}
		p.Status.ContainerStatuses[0] = v1.ContainerStatus{Name: "main", State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "PodInitializing"}}}
	})
	mk("kube-system", "dns", map[string]string{"app": "dns"}, nil)

	sock := filepath.Join(t.TempDir(), "m.sock")
	srv := api.NewServer(b, slog.New(slog.DiscardHandler))
	srv.SetPodTable(kubeapi.PodTable, time.Now)
	apitest.Serve(t, srv, sock)

	for _, args := range [][]string{
		{"get", "pods"},
		{"get", "po", "-o", "wide"},
		{"get", "pod", "-owide", "--no-headers"},
		{"get", "pods", "-A"},
		{"-A", "get", "pods", "--output=wide"},
		{"get", "pods", "-n", "kube-system"},
		{"get", "pods", "--namespace=empty"},
		{"get", "pods", "-A", "-l", "app=nothing"},
		{"get", "pods", "-l", "app in (web,batch)"},
		{"get", "pods", "--selector=app!=web", "-A"},
	} {
		args = append([]string{"--socket", sock}, args...)
		q, ok := fast.ParseGet(args, "/nonexistent")
		if !ok {
			t.Errorf("%q: fast does not take it", args)
			continue
		}
		var fout, ferr, cout, cerr bytes.Buffer
		if !fast.Get(context.Background(), q, &fout, &ferr) {
			t.Errorf("%q: fast could not answer", args)
			continue
		}
		if rc := cli.Main(args, strings.NewReader(""), &cout, &cerr); rc != 0 {
			t.Fatalf("%q: cli exit %d: %s", args, rc, cerr.String())
		}
		if fout.String() != cout.String() || ferr.String() != cerr.String() {
			t.Errorf("%q:\nfast stdout:\n%s\nstderr: %q\ncli stdout:\n%s\nstderr: %q", args, fout.String(), ferr.String(), cout.String(), cerr.String())
		}
		if !strings.Contains(strings.Join(args, " "), "empty") && !strings.Contains(strings.Join(args, " "), "nothing") && fout.Len() == 0 {
			t.Errorf("%q: no rows", args)
		}
	}
}

// TestFastGetLeavesTheRest: a daemon without the Table renderer (an older
// one), an error status or no daemon at all: fast writes nothing and
// says so, and the full CLI answers.
func TestFastGetLeavesTheRest(t *testing.T) {
	b := apitest.New()
	b.SetPod(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p"}})
	sock := filepath.Join(t.TempDir(), "m.sock")
	apitest.Serve(t, api.NewServer(b, slog.New(slog.DiscardHandler)), sock)
	for _, tc := range []struct{ name, sock, sel string }{
		{"PodList, no Table", sock, ""},
		{"bad selector", sock, "a in in"},
		{"no daemon", filepath.Join(t.TempDir(), "none.sock"), ""},
	} {
		var out, errb bytes.Buffer
		q := fast.GetQuery{Socket: tc.sock, Namespace: "default", Selector: tc.sel}
		if fast.Get(context.Background(), q, &out, &errb) || out.Len()+errb.Len() != 0 {
			t.Errorf("%s: answered, stdout %q stderr %q", tc.name, out.String(), errb.String())
		}
	}
}
