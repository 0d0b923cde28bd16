package agent

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/runtime"
	"github.com/miniagent/miniagent/runtime/fake"
)

func newClusterHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clock: clocktesting.NewFakeClock(t0), root: t.TempDir(), cluster: true}
	h.rt = fake.New(h.clock)
	h.rt.AddImage(runtime.ImageInfo{Ref: "docker.io/library/busybox:latest", ID: "docker.io/library/busybox@sha256:abc"})
	h.start()
	t.Cleanup(h.stop)
	return h
}

func apiServerNode(labels map[string]string, taints ...v1.Taint) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Labels: labels}, Spec: v1.NodeSpec{Taints: taints}}
}

const selectorPod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  nodeSelector:\n    disk: ssd\n  containers:\n  - name: app\n    image: busybox\n    imagePullPolicy: IfNotPresent\n"

func TestClusterNodeLabelsAndTaintsComeFromTheAPIServer(t *testing.T) {
	h := newClusterHarness(t)
	ctx := context.Background()

	// Before the Node is seen, the flag-given labels apply: no disk=ssd.
	h.apply(strings.Replace(selectorPod, "%s", "before", 1))
	if p := h.pod("before"); p.Status.Phase != v1.PodFailed || p.Status.Reason != "NodeAffinity" {
		t.Fatalf("before the apiserver's labels: %s %s", p.Status.Phase, p.Status.Reason)
	}

	// kubectl label node node1 disk=ssd: the Node keeper hands it over.
	h.a.SetAPIServerNode(apiServerNode(map[string]string{"kubernetes.io/hostname": "node1", "disk": "ssd"}))
	h.apply(strings.Replace(selectorPod, "%s", "after", 1))
	h.waitRunning("after", "app")
	node, _ := h.a.Node(ctx)
	if node.Labels["disk"] != "ssd" || node.Labels["kubernetes.io/hostname"] != "node1" || len(node.Labels) != 2 {
		t.Fatalf("node labels = %v, want the apiserver's", node.Labels)
	}

	// The local verbs refuse, pointing to kubectl.
	node.Labels["x"] = "y"
	_, err := h.a.UpdateNode(ctx, node)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "kubectl label node") {
		t.Fatalf("UpdateNode in cluster mode: %v, want Forbidden pointing to kubectl", err)
	}

	// kubectl taint node node1 maint=x:NoExecute evicts the untolerating pod.
	h.a.SetAPIServerNode(apiServerNode(map[string]string{"kubernetes.io/hostname": "node1", "disk": "ssd"},
		v1.Taint{Key: "maint", Value: "x", Effect: v1.TaintEffectNoExecute}))
	h.eventually("after evicted by the apiserver's taint", func() bool {
		p := h.pod("after")
		return p.Status.Phase == v1.PodFailed && p.Status.Reason == "TaintManagerEviction"
	})
	node, _ = h.a.Node(ctx)
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "maint" || node.Spec.Taints[0].TimeAdded == nil {
		t.Fatalf("node taints = %+v, want maint stamped with timeAdded", node.Spec.Taints)
	}
	// Admission uses the taint too: a new untolerating pod is rejected.
	h.apply(strings.Replace(selectorPod, "%s", "tainted", 1))
	if p := h.pod("tainted"); p.Status.Phase != v1.PodFailed || p.Status.Reason != "TaintToleration" {
		t.Fatalf("pod on a NoExecute-tainted node: %s %s", p.Status.Phase, p.Status.Reason)
	}
}

func TestClusterNodeIgnoresPersistedNodeState(t *testing.T) {
	h := &harness{t: t, clock: clocktesting.NewFakeClock(t0), root: t.TempDir()}
	h.rt = fake.New(h.clock)
	h.start()
	node, _ := h.a.Node(context.Background())
	node.Labels["standalone"] = "yes"
	if _, err := h.a.UpdateNode(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	h.stop()
	a, err := New(Options{Runtime: h.rt, Clock: h.clock, Log: slog.New(slog.DiscardHandler),
		RootDir: h.root, PodLogsDir: h.root + "/logs", CgroupRoot: "test",
		Node: NodeConfig{Name: "node1", Cluster: true, Labels: map[string]string{"zone": "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	n := a.buildNodeLocked()
	if n.Labels["standalone"] != "" || n.Labels["zone"] != "a" {
		t.Fatalf("cluster node labels = %v, want the flags' (zone=a) and not node.json's", n.Labels)
	}
}

func TestStampTaints(t *testing.T) {
	now := metav1.NewTime(t0)
	earlier := metav1.NewTime(t0.Add(-time.Minute))
	given := metav1.NewTime(t0.Add(-time.Hour))
	ne := func(k, v string, at *metav1.Time) v1.Taint {
		return v1.Taint{Key: k, Value: v, Effect: v1.TaintEffectNoExecute, TimeAdded: at}
	}
	for _, tc := range []struct {
		name       string
		prev, next []v1.Taint
		want       []*metav1.Time
	}{
		{"new NoExecute gets now", nil, []v1.Taint{ne("a", "1", nil)}, []*metav1.Time{&now}},
		{"seen before keeps its time", []v1.Taint{ne("a", "1", &earlier)}, []v1.Taint{ne("a", "1", nil)}, []*metav1.Time{&earlier}},
		{"changed value is a new taint", []v1.Taint{ne("a", "1", &earlier)}, []v1.Taint{ne("a", "2", nil)}, []*metav1.Time{&now}},
		{"apiserver's timeAdded wins", []v1.Taint{ne("a", "1", &earlier)}, []v1.Taint{ne("a", "1", &given)}, []*metav1.Time{&given}},
		{"NoSchedule is not stamped", nil, []v1.Taint{{Key: "a", Effect: v1.TaintEffectNoSchedule}}, []*metav1.Time{nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wasNil := tc.next[0].TimeAdded == nil
			got := stampTaints(tc.prev, tc.next, now)
			for i, w := range tc.want {
				if !got[i].TimeAdded.Equal(w) {
					t.Fatalf("taint %d timeAdded = %v, want %v", i, got[i].TimeAdded, w)
				}
			}
			if wasNil && tc.next[0].TimeAdded != nil {
				t.Fatal("stampTaints changed its input")
			}
		})
	}
}

// In cluster mode admission counts only NoExecute taints (kubelet's); the
// taint manager leaves the node lifecycle controller's own taints out.
func TestClusterNodeAdmissionAndTaintManagerTaints(t *testing.T) {
	h := newClusterHarness(t)
	past := metav1.NewTime(t0.Add(-time.Hour))
	h.a.SetAPIServerNode(apiServerNode(map[string]string{"kubernetes.io/hostname": "node1"},
		v1.Taint{Key: "dedicated", Value: "b", Effect: v1.TaintEffectNoSchedule},
		v1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: v1.TaintEffectNoSchedule}))
	h.apply(podYAML("bound", "Always", nil, "app"))
	h.waitRunning("bound", "app")

	// Back from an outage: the controller's unreachable taint, an hour old,
	// is still on the Node; a pod tolerating it for 300 s is not evicted.
	h.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: tol\nspec:\n  tolerations:\n  - key: node.kubernetes.io/unreachable\n    operator: Exists\n    effect: NoExecute\n    tolerationSeconds: 300\n  containers:\n  - name: app\n    image: busybox\n    imagePullPolicy: IfNotPresent\n")
	h.waitRunning("tol", "app")
	h.a.SetAPIServerNode(apiServerNode(map[string]string{"kubernetes.io/hostname": "node1"},
		v1.Taint{Key: "node.kubernetes.io/unreachable", Effect: v1.TaintEffectNoExecute, TimeAdded: &past}))
	h.clock.Step(time.Second)
	time.Sleep(50 * time.Millisecond)
	if p := h.pod("tol"); p.Status.Phase != v1.PodRunning {
		t.Fatalf("tol %s %s after the stale unreachable taint, want still Running", p.Status.Phase, p.Status.Reason)
	}
	// Standalone, the same NoSchedule taint keeps a pod off.
	s := newHarness(t)
	node, _ := s.a.Node(context.Background())
	node.Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "b", Effect: v1.TaintEffectNoSchedule}}
	if _, err := s.a.UpdateNode(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	s.apply(podYAML("bound", "Always", nil, "app"))
	if p := s.pod("bound"); p.Status.Phase != v1.PodFailed || p.Status.Reason != "TaintToleration" {
		t.Fatalf("standalone pod on a NoSchedule-tainted node: %s %s", p.Status.Phase, p.Status.Reason)
	}
}
