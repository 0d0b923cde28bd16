package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/miniagent/miniagent/agent/api"
)

// fakeAgent is the agent's pods and event stream.
type fakeAgent struct {
	mu       sync.Mutex
	pods     map[types.UID]*v1.Pod
	events   chan api.EventWatchEvent
	watchers []chan api.WatchEvent
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{pods: map[types.UID]*v1.Pod{}, events: make(chan api.EventWatchEvent, 100)}
}

func (f *fakeAgent) ListPods(context.Context, string) ([]v1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []v1.Pod
	for _, p := range f.pods {
		out = append(out, *p.DeepCopy())
	}
	return out, nil
}

func (f *fakeAgent) GetPod(_ context.Context, ns, name string) (*v1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pods {
		if p.Namespace == ns && p.Name == name {
			return p.DeepCopy(), nil
		}
	}
	return nil, apierrors.NewNotFound(v1.Resource("pods"), name)
}

func (f *fakeAgent) WatchPods(ctx context.Context, _ string) (<-chan api.WatchEvent, error) {
	ch := make(chan api.WatchEvent, 100)
	f.mu.Lock()
	f.watchers = append(f.watchers, ch)
	f.mu.Unlock()
	return ch, nil
}

func (f *fakeAgent) WatchEvents(context.Context, string) (<-chan api.EventWatchEvent, error) {
	return f.events, nil
}

func (f *fakeAgent) set(p *v1.Pod) {
	f.mu.Lock()
	f.pods[p.UID] = p
	ws := f.watchers
	f.mu.Unlock()
	for _, w := range ws {
		w <- api.WatchEvent{Type: "ADDED", Pod: *p}
	}
}

func (f *fakeAgent) remove(uid types.UID) {
	f.mu.Lock()
	p := f.pods[uid]
	delete(f.pods, uid)
	ws := f.watchers
	f.mu.Unlock()
	for _, w := range ws {
		w <- api.WatchEvent{Type: "DELETED", Pod: *p}
	}
}

// emit sends a local event as the agent's event store does.
func (f *fakeAgent) emit(pod *v1.Pod, fieldPath, typ, reason, msg string, count int32) {
	f.events <- api.EventWatchEvent{Type: "ADDED", Event: v1.Event{
		InvolvedObject: v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, FieldPath: fieldPath},
		Type:           typ, Reason: reason, Message: msg, Count: count,
	}}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// apiEvents lists the events in the fake apiserver.
func apiEvents(t *testing.T, client *fake.Clientset) []v1.Event {
	t.Helper()
	l, err := client.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func waitEvent(t *testing.T, client *fake.Clientset, what string, match func(v1.Event) bool) v1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range apiEvents(t, client) {
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event in the apiserver; there: %+v", what, apiEvents(t, client))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startEvents(t *testing.T, client *fake.Clientset, local *fakeAgent, mirrors *Mirrors, wait time.Duration) {
	t.Helper()
	ev, err := NewEvents(EventsOptions{Client: client, Local: local, NodeName: "node-a", Mirrors: mirrors,
		MirrorWait: wait, Log: quiet, RetryDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ev.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestEventsPosted: a pod's container event reaches the apiserver about
// that pod with its fieldPath, from kubelet on the node; a repeat becomes
// count 2 of the same event (record's correlator); the Node gets Starting.
func TestEventsPosted(t *testing.T) {
	client := fake.NewClientset()
	local := newFakeAgent()
	startEvents(t, client, local, nil, 0)
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "api-uid"}}
	local.emit(pod, "spec.containers{app}", v1.EventTypeNormal, "Started", "Started container app", 1)
	e := waitEvent(t, client, "Started", func(e v1.Event) bool { return e.Reason == "Started" })
	io := e.InvolvedObject
	if io.Kind != "Pod" || io.Namespace != "ns1" || io.Name != "web" || io.UID != "api-uid" || io.FieldPath != "spec.containers{app}" {
		t.Errorf("involvedObject = %+v", io)
	}
	if e.Namespace != "ns1" || e.Source != (v1.EventSource{Component: "kubelet", Host: "node-a"}) || e.Type != v1.EventTypeNormal || e.Message != "Started container app" {
		t.Errorf("event = %+v", e)
	}
	local.emit(pod, "spec.containers{app}", v1.EventTypeNormal, "Started", "Started container app", 2)
	waitEvent(t, client, "Started count 2", func(e v1.Event) bool { return e.Reason == "Started" && e.Count == 2 })
	n := waitEvent(t, client, "Starting", func(e v1.Event) bool { return e.Reason == "Starting" })
	if n.InvolvedObject.Kind != "Node" || n.InvolvedObject.Name != "node-a" || n.InvolvedObject.UID != "node-a" || n.Namespace != "default" {
		t.Errorf("node event = %+v", n)
	}
}

// TestEventsSpamFilter: a flood about one object is cut by record's spam
// filter (25 at once) instead of reaching the apiserver.
func TestEventsSpamFilter(t *testing.T) {
	client := fake.NewClientset()
	var writes atomic.Int32
	client.PrependReactor("*", "events", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetVerb() == "create" || a.GetVerb() == "patch" {
			writes.Add(1)
		}
		return false, nil, nil
	})
	local := newFakeAgent()
	startEvents(t, client, local, nil, 0)
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "api-uid"}}
	for i := range 60 {
		local.emit(pod, "", v1.EventTypeWarning, "Unhealthy", "Liveness probe failed: "+string(rune('a'+i%26))+string(rune('a'+i/26)), 1)
	}
	time.Sleep(time.Second)
	t.Logf("%d event writes", writes.Load())
	if w := writes.Load(); w == 0 || w > 26 { // 25 for the pod, 1 for the Node's Starting
		t.Errorf("%d event writes for 60 events about one pod, want the spam filter's 25 (+1 Starting)", w)
	}
}

// TestEventsApiserverUnreachable: events recorded while the apiserver does
// not answer are retried and arrive, in order, once it does.
func TestEventsApiserverUnreachable(t *testing.T) {
	client := fake.NewClientset()
	var down atomic.Bool
	down.Store(true)
	client.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		}
		return false, nil, nil
	})
	local := newFakeAgent()
	startEvents(t, client, local, nil, 0)
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "api-uid"}}
	local.emit(pod, "spec.containers{app}", v1.EventTypeNormal, "Pulled", "image present", 1)
	local.emit(pod, "spec.containers{app}", v1.EventTypeNormal, "Created", "Created container app", 1)
	time.Sleep(300 * time.Millisecond)
	if n := len(apiEvents(t, client)); n != 0 {
		t.Fatalf("%d events stored while the apiserver was down", n)
	}
	down.Store(false)
	waitEvent(t, client, "Pulled", func(e v1.Event) bool { return e.Reason == "Pulled" })
	waitEvent(t, client, "Created", func(e v1.Event) bool { return e.Reason == "Created" })
}
