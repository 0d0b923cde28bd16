package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/agent"
	"github.com/miniagent/miniagent/agent/sources"
	rt "github.com/miniagent/miniagent/runtime"
	rtfake "github.com/miniagent/miniagent/runtime/fake"
)

// podsRig is an agent on the fake runtime whose pods come from, and whose
// statuses go to, client-go's fake clientset through Pods.
type podsRig struct {
	t      *testing.T
	client *fake.Clientset
	rt     *rtfake.Runtime
	a      *agent.Agent
	pods   *Pods

	mu      sync.Mutex
	deletes []metav1.DeleteOptions
}

func newPodsRig(t *testing.T, objs ...runtime.Object) *podsRig {
	t.Helper()
	r := &podsRig{t: t, client: fake.NewClientset(objs...)}
	r.client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r.mu.Lock()
		r.deletes = append(r.deletes, a.(k8stesting.DeleteActionImpl).DeleteOptions)
		r.mu.Unlock()
		return false, nil, nil
	})
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	r.rt = rtfake.New(clk)
	r.rt.AddImage(rt.ImageInfo{Ref: "docker.io/library/busybox:latest", ID: "docker.io/library/busybox@sha256:abc"})
	log := slog.New(slog.DiscardHandler)
	r.pods = NewPods(PodsOptions{Client: r.client, NodeName: "node-a", Log: log, Resync: time.Hour})
	root := t.TempDir()
	a, err := agent.New(agent.Options{
		Runtime: r.rt, Clock: clk, Log: log, RootDir: root, PodLogsDir: root + "/logs", CgroupRoot: "test",
		Node: agent.NodeConfig{Name: "node-a", Labels: map[string]string{"zone": "a"}}, HealthPeriod: time.Hour,
		OnPodStatus: r.pods.PodStatus,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.a = a
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx, r.pods.Source) })
	wg.Go(func() { r.pods.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r
}

func (r *podsRig) get(name string) (*v1.Pod, error) {
	return r.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
}

func (r *podsRig) eventually(what string, cond func() (bool, string)) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(5 * time.Millisecond)
	}
	r.t.Fatalf("timed out waiting for %s (last: %s)", what, last)
}

func boundPod(name string, uid types.UID, node string) *v1.Pod {
	grace := int64(7)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid},
		Spec: v1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: &grace,
			Containers: []v1.Container{{Name: "app", Image: "busybox", ImagePullPolicy: v1.PullIfNotPresent}}},
		Status: v1.PodStatus{Phase: v1.PodPending, Conditions: []v1.PodCondition{
			{Type: v1.PodScheduled, Status: v1.ConditionTrue},
			{Type: "example.com/Custom", Status: v1.ConditionTrue, Reason: "SetByController"},
		}},
	}
}

func podCondition(p *v1.Pod, t v1.PodConditionType) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func TestPodsFromAPIServerRunAndReportStatus(t *testing.T) {
	r := newPodsRig(t, boundPod("web", "uid-web", "node-a"), boundPod("other", "uid-other", "node-b"))
	r.eventually("web Running in the API server", func() (bool, string) {
		p, err := r.get("web")
		if err != nil {
			return false, err.Error()
		}
		cs := p.Status.ContainerStatuses
		return p.Status.Phase == v1.PodRunning && len(cs) == 1 && cs[0].State.Running != nil && cs[0].Ready, string(p.Status.Phase)
	})
	p, _ := r.get("web")
	if p.Status.QOSClass != v1.PodQOSBestEffort || p.Status.HostIP == "" || p.Status.StartTime == nil {
		t.Errorf("status qosClass %q hostIP %q startTime %v", p.Status.QOSClass, p.Status.HostIP, p.Status.StartTime)
	}
	if c := podCondition(p, "example.com/Custom"); c == nil || c.Reason != "SetByController" {
		t.Errorf("a condition another component owns was not kept: %+v", p.Status.Conditions)
	}
	if c := podCondition(p, v1.PodReady); c == nil || c.Status != v1.ConditionTrue {
		t.Errorf("Ready = %+v", c)
	}
	// The fake clientset ignores the field selector: the source itself
	// leaves out pods bound elsewhere.
	if o, _ := r.get("other"); len(o.Status.ContainerStatuses) != 0 {
		t.Errorf("pod of node-b was run here: %+v", o.Status)
	}
	if n := len(r.rt.Containers()); n != 1 {
		t.Errorf("%d containers, want 1", n)
	}
	if c := r.pods.Source.Cached("default", "web"); c == nil || c.UID != "uid-web" {
		t.Errorf("Cached(web) = %v", c)
	}
}

func TestPodsGracefulDeletionEndsWithUIDPreconditionedDelete(t *testing.T) {
	r := newPodsRig(t, boundPod("web", "uid-web", "node-a"))
	r.eventually("web Running", func() (bool, string) {
		p, err := r.get("web")
		return err == nil && p.Status.Phase == v1.PodRunning, "not yet"
	})
	// kubectl delete --grace-period=3: the API server sets the deletion
	// fields and keeps the object until the node deletes it with grace 0.
	p, _ := r.get("web")
	ts, g := metav1.Now(), int64(3)
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &g
	if _, err := r.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r.eventually("web deleted from the API server", func() (bool, string) {
		_, err := r.get("web")
		return apierrors.IsNotFound(err), "still there"
	})
	if stops := r.rt.Stops(); len(stops) == 0 || stops[0].Grace != 3*time.Second {
		t.Errorf("stops = %+v, want the deletion's 3s grace", stops)
	}
	r.mu.Lock()
	deletes := r.deletes
	r.mu.Unlock()
	if len(deletes) != 1 || deletes[0].GracePeriodSeconds == nil || *deletes[0].GracePeriodSeconds != 0 ||
		deletes[0].Preconditions == nil || deletes[0].Preconditions.UID == nil || *deletes[0].Preconditions.UID != "uid-web" {
		t.Fatalf("deletes = %+v, want one with grace 0 and the UID precondition", deletes)
	}
	// The last status written, before the delete, was terminal.
	last := ""
	for _, a := range r.client.Actions() {
		if pa, ok := a.(k8stesting.PatchAction); ok && pa.GetSubresource() == "status" {
			last = string(pa.GetPatch())
		}
	}
	if !strings.Contains(last, `"phase":"Failed"`) {
		t.Errorf("last status patch %s, want it to make the pod Failed (killed: exit 137)", last)
	}
	if n := len(r.rt.Sandboxes()); n != 0 {
		t.Errorf("%d sandboxes left on the node", n)
	}
}

func TestPodsDeletedOutrightAreKilled(t *testing.T) {
	r := newPodsRig(t, boundPod("web", "uid-web", "node-a"))
	r.eventually("web Running", func() (bool, string) {
		p, err := r.get("web")
		return err == nil && p.Status.Phase == v1.PodRunning, "not yet"
	})
	zero := int64(0)
	if err := r.client.CoreV1().Pods("default").Delete(context.Background(), "web", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	r.eventually("pod forgotten, sandbox gone", func() (bool, string) {
		_, err := r.a.GetPod(context.Background(), "default", "web")
		return apierrors.IsNotFound(err) && len(r.rt.Sandboxes()) == 0, "still there"
	})
	if stops := r.rt.Stops(); len(stops) == 0 {
		t.Errorf("the container was never stopped")
	}
}

func TestPodsRejectedAreWrittenFailed(t *testing.T) {
	p := boundPod("picky", "uid-picky", "node-a")
	p.Spec.NodeSelector = map[string]string{"zone": "b"}
	r := newPodsRig(t, p)
	r.eventually("picky Failed NodeAffinity", func() (bool, string) {
		p, err := r.get("picky")
		if err != nil {
			return false, err.Error()
		}
		return p.Status.Phase == v1.PodFailed && p.Status.Reason == "NodeAffinity" &&
			p.Status.Message == "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector", p.Status.Reason
	})
}

func TestPodsMirrorLookupForStaticPods(t *testing.T) {
	client := fake.NewClientset(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "etcd-node-a", UID: "mirror-uid"}})
	p := NewPods(PodsOptions{Client: client, NodeName: "node-a", Resync: time.Hour})
	static := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "etcd-node-a", UID: "static-uid"},
		Status: v1.PodStatus{Phase: v1.PodRunning}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	p.PodStatus(static, sources.SourceFile, false) // no lookup: not written
	p.PodStatus(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "local", UID: "u"}}, agent.SourceAPI, false)
	time.Sleep(50 * time.Millisecond)
	for _, a := range client.Actions() {
		t.Fatalf("API server called without a mirror lookup: %s %s", a.GetVerb(), a.GetResource().Resource)
	}
	p.SetMirrorUID(func(s *v1.Pod) (types.UID, bool) { return "mirror-uid", s.UID == "static-uid" })
	p.PodStatus(static, sources.SourceFile, false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := client.CoreV1().Pods("default").Get(context.Background(), "etcd-node-a", metav1.GetOptions{})
		if err == nil && m.Status.Phase == v1.PodRunning {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror pod status = %+v, %v", m.Status, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
