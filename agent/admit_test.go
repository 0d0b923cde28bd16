package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/runtime"
	"github.com/miniagent/miniagent/runtime/fake"
)

func TestRejectedPodIsShownButNeverRun(t *testing.T) {
	h := newHarness(t)
	h.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: sel\nspec:\n  nodeSelector:\n    disk: ssd\n  containers:\n  - name: c\n    image: busybox\n    imagePullPolicy: IfNotPresent\n")
	p := h.pod("sel")
	if p.Status.Phase != v1.PodFailed || p.Status.Reason != "NodeAffinity" ||
		p.Status.Message != "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector" {
		t.Fatalf("status = %s %q %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
	}
	if p.Status.QOSClass != v1.PodQOSBestEffort {
		t.Fatalf("qosClass = %q", p.Status.QOSClass)
	}
	time.Sleep(20 * time.Millisecond)
	for _, c := range h.rt.Calls() {
		if strings.Contains(c, "create") || strings.Contains(c, "sandbox") {
			t.Fatalf("rejected pod touched the runtime: %s", c)
		}
	}
}

func TestNoExecuteTaintEvictsUnlessTolerated(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("plain", "Always", nil, "app"))
	h.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: tol\nspec:\n  tolerations:\n  - key: maint\n    operator: Exists\n    effect: NoExecute\n    tolerationSeconds: 30\n  containers:\n  - name: app\n    image: busybox\n    imagePullPolicy: IfNotPresent\n")
	h.waitRunning("plain", "app")
	h.waitRunning("tol", "app")
	node, _ := h.a.Node(context.Background())
	node.Spec.Taints = []v1.Taint{{Key: "maint", Value: "x", Effect: v1.TaintEffectNoExecute}}
	if _, err := h.a.UpdateNode(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	h.eventually("plain evicted", func() bool {
		p := h.pod("plain")
		return p.Status.Phase == v1.PodFailed && p.Status.Reason == "TaintManagerEviction"
	})
	h.eventually("plain's container stopped", func() bool {
		return h.pod("plain").Status.ContainerStatuses[0].State.Terminated != nil
	})
	if p := h.pod("tol"); p.Status.Phase != v1.PodRunning {
		t.Fatalf("tolerating pod evicted early: %s", p.Status.Phase)
	}
	h.eventually("tol evicted after tolerationSeconds", func() bool {
		h.clock.Step(2 * time.Second)
		time.Sleep(2 * time.Millisecond)
		return h.pod("tol").Status.Phase == v1.PodFailed
	})
	if d := h.clock.Since(t0); d < 30*time.Second {
		t.Fatalf("evicted after %v, before tolerationSeconds", d)
	}
}

func TestRemovingTaintCancelsPendingEviction(t *testing.T) {
	h := newHarness(t)
	h.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: tol\nspec:\n  tolerations:\n  - key: maint\n    operator: Exists\n    effect: NoExecute\n    tolerationSeconds: 30\n  containers:\n  - name: app\n    image: busybox\n    imagePullPolicy: IfNotPresent\n")
	h.waitRunning("tol", "app")
	node, _ := h.a.Node(context.Background())
	node.Spec.Taints = []v1.Taint{{Key: "maint", Effect: v1.TaintEffectNoExecute}}
	if _, err := h.a.UpdateNode(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	uid := h.pod("tol").UID
	h.eventually("eviction pending", func() bool {
		h.a.mu.Lock()
		defer h.a.mu.Unlock()
		return h.a.pendingEvictions[uid]
	})
	h.clock.Step(10 * time.Second)
	node.Spec.Taints = nil
	if _, err := h.a.UpdateNode(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	h.clock.Step(time.Minute)
	time.Sleep(20 * time.Millisecond)
	if p := h.pod("tol"); p.Status.Phase != v1.PodRunning {
		t.Fatalf("phase = %s after the taint was removed", p.Status.Phase)
	}
	evs, _ := h.a.PodEvents(context.Background(), "default", "tol")
	found := false
	for _, e := range evs {
		found = found || strings.HasPrefix(e.Message, "Cancelling deletion of Pod default/tol")
	}
	if !found {
		t.Fatalf("no cancel event in %+v", evs)
	}
}

func TestMaxPodsBoundsAdmission(t *testing.T) {
	h := &harness{t: t, clock: clocktesting.NewFakeClock(t0), root: t.TempDir()}
	h.rt = fake.New(h.clock)
	h.rt.AddImage(runtime.ImageInfo{Ref: "docker.io/library/busybox:latest", ID: "docker.io/library/busybox@sha256:abc"})
	h.maxPods = 2
	h.start()
	t.Cleanup(h.stop)
	node, _ := h.a.Node(context.Background())
	if got := node.Status.Capacity.Pods().Value(); got != 2 {
		t.Fatalf("pods capacity = %d, want 2", got)
	}
	for _, name := range []string{"a", "b", "c"} {
		h.apply(podYAML(name, "Always", nil, "app"))
	}
	if p := h.pod("c"); p.Status.Phase != v1.PodFailed || p.Status.Reason != "OutOfpods" {
		t.Fatalf("third pod: phase %s reason %q", p.Status.Phase, p.Status.Reason)
	}
	if p := h.pod("b"); p.Status.Phase == v1.PodFailed {
		t.Fatalf("second pod rejected: %s", p.Status.Message)
	}
}
