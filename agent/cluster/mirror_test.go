package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

type changeLog struct {
	mu  sync.Mutex
	all []MirrorChange
}

func (c *changeLog) add(ch MirrorChange) {
	c.mu.Lock()
	c.all = append(c.all, ch)
	c.mu.Unlock()
}

func (c *changeLog) last(static types.UID) (MirrorChange, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.all) - 1; i >= 0; i-- {
		if c.all[i].Static == static {
			return c.all[i], true
		}
	}
	return MirrorChange{}, false
}

func startMirrors(t *testing.T, client *fake.Clientset, local *fakeAgent, log *changeLog) *Mirrors {
	t.Helper()
	m, err := NewMirrors(MirrorOptions{Client: client, Local: local, NodeName: "node-a",
		NodeUID: func() types.UID { return "node-uid" }, OnChange: log.add, Resync: 200 * time.Millisecond, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func getPod(client *fake.Clientset, name string) *v1.Pod {
	p, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return p
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMirrorsLifecycle: a static pod gets its mirror pod, MirrorOf and
// OnChange tell; a deleted (being deleted) mirror is deleted at once and
// created again; a changed manifest replaces it; a removed static pod
// takes its mirror along. Pods that are no mirror are never touched.
func TestMirrorsLifecycle(t *testing.T) {
	other := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "user-pod", Namespace: "default", UID: "user"}, Spec: v1.PodSpec{NodeName: "node-a"}}
	client := fake.NewClientset(other)
	local := newFakeAgent()
	local.set(staticPod("web-node-a", "s1"))
	local.set(&v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-pod", Namespace: "default", UID: "a1"}}) // not static
	var log changeLog
	m := startMirrors(t, client, local, &log)

	var first *v1.Pod
	eventually(t, "mirror pod created", func() bool { first = getPod(client, "web-node-a"); return first != nil })
	if first.Annotations[ConfigMirrorAnnotation] != "s1" || first.Spec.NodeName != "node-a" || first.OwnerReferences[0].UID != "node-uid" {
		t.Errorf("mirror pod = %+v", first)
	}
	if getPod(client, "api-pod") != nil {
		t.Error("a mirror pod was made for a pod that is not static")
	}
	eventually(t, "MirrorOf s1", func() bool { r, ok := m.MirrorOf("s1"); return ok && r.Name == "web-node-a" })
	if tgt, ok := m.StatusTarget(staticPod("web-node-a", "s1")); !ok || tgt.UID != first.UID {
		t.Errorf("StatusTarget of the static pod = %+v %v, want its mirror %s", tgt, ok, first.UID)
	}
	apiPod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-pod", Namespace: "default", UID: "a1"}}
	if tgt, ok := m.StatusTarget(apiPod); !ok || tgt != (MirrorRef{Namespace: "default", Name: "api-pod", UID: "a1"}) {
		t.Errorf("StatusTarget of an apiserver pod = %+v %v, want itself", tgt, ok)
	}
	if _, ok := m.StatusTarget(staticPod("other-node-a", "s7")); ok {
		t.Error("StatusTarget of a static pod without a mirror pod: ok")
	}
	if c, ok := log.last("s1"); !ok || c.Old != (MirrorRef{}) || c.New.Name != "web-node-a" {
		t.Errorf("OnChange = %+v %v", c, ok)
	}

	// kubectl delete pod: a deletionTimestamp (the fake keeps the pod).
	// The mirror is deleted with grace 0 and created again.
	deleting := first.DeepCopy()
	deleting.UID = "m-old"
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	if _, err := client.CoreV1().Pods("default").Update(context.Background(), deleting, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mirror pod re-created", func() bool {
		p := getPod(client, "web-node-a")
		return p != nil && p.DeletionTimestamp == nil
	})
	sawDelete := false
	for _, a := range client.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			sawDelete = true
		}
	}
	if !sawDelete {
		t.Error("the mirror pod being deleted was not deleted")
	}

	// A changed manifest: a new static UID and hash.
	local.remove("s1")
	local.set(staticPod("web-node-a", "s2"))
	eventually(t, "mirror of the new manifest", func() bool {
		p := getPod(client, "web-node-a")
		return p != nil && p.Annotations[ConfigMirrorAnnotation] == "s2"
	})
	eventually(t, "MirrorOf s2, none for s1", func() bool {
		_, ok1 := m.MirrorOf("s1")
		_, ok2 := m.MirrorOf("s2")
		return !ok1 && ok2
	})

	// Static pod removed: its mirror goes.
	local.remove("s2")
	eventually(t, "mirror pod removed", func() bool { return getPod(client, "web-node-a") == nil })
	if getPod(client, "user-pod") == nil {
		t.Error("a pod that is no mirror pod was deleted")
	}
	if c, ok := log.last("s2"); !ok || c.New != (MirrorRef{}) {
		t.Errorf("last change of s2 = %+v, want its mirror gone", c)
	}
}

// TestMirrorsWaitForNode: no mirror pod before the Node is registered.
func TestMirrorsWaitForNode(t *testing.T) {
	client := fake.NewClientset()
	local := newFakeAgent()
	local.set(staticPod("web-node-a", "s1"))
	var uid sync.Mutex
	nodeUID := types.UID("")
	m, err := NewMirrors(MirrorOptions{Client: client, Local: local, NodeName: "node-a", Resync: 50 * time.Millisecond, Log: quiet,
		NodeUID: func() types.UID { uid.Lock(); defer uid.Unlock(); return nodeUID }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(300 * time.Millisecond)
	if getPod(client, "web-node-a") != nil {
		t.Fatal("mirror pod created before the Node was registered")
	}
	uid.Lock()
	nodeUID = "node-uid"
	uid.Unlock()
	eventually(t, "mirror pod created", func() bool { return getPod(client, "web-node-a") != nil })
}

// TestStaticPodEventsGoToMirror: a static pod's events wait for its mirror
// pod and are then posted about it, fieldPath kept; with no mirror they
// are posted about the static pod after MirrorWait.
func TestStaticPodEventsGoToMirror(t *testing.T) {
	client := fake.NewClientset()
	local := newFakeAgent()
	static := staticPod("web-node-a", "s1")
	local.set(static)
	var log changeLog
	m := startMirrors(t, client, local, &log)
	startEvents(t, client, local, m, time.Minute)
	local.emit(static, "spec.containers{c}", v1.EventTypeNormal, "Pulled", "present", 1)
	e := waitEvent(t, client, "Pulled", func(e v1.Event) bool { return e.Reason == "Pulled" })
	mirror := getPod(client, "web-node-a")
	if e.InvolvedObject.UID != mirror.UID || e.InvolvedObject.Name != "web-node-a" || e.InvolvedObject.FieldPath != "spec.containers{c}" {
		t.Errorf("involvedObject = %+v, want the mirror pod %s", e.InvolvedObject, mirror.UID)
	}

	// No mirror ever (the Node is not registered): the static pod's own ref.
	client2 := fake.NewClientset()
	local2 := newFakeAgent()
	local2.set(staticPod("db-node-a", "s9"))
	m2, err := NewMirrors(MirrorOptions{Client: client2, Local: local2, NodeName: "node-a", NodeUID: func() types.UID { return "" }, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	startEvents(t, client2, local2, m2, 200*time.Millisecond)
	local2.emit(local2.pods["s9"], "", v1.EventTypeNormal, "Scheduled", "x", 1)
	e = waitEvent(t, client2, "held event", func(e v1.Event) bool { return e.Reason == "Scheduled" })
	if e.InvolvedObject.UID != "s9" {
		t.Errorf("involvedObject = %+v, want the static pod", e.InvolvedObject)
	}
}
