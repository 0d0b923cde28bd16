package statusmanager

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

func apiPod(uid types.UID, st v1.PodStatus) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: uid}, Status: st}
}

// rig is a Manager on a fake clientset that, like the API server, refuses
// a status patch whose metadata.uid differs from the stored pod's.
type rig struct {
	m      *Manager
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	fail   atomic.Bool // every patch fails
}

func newRig(t *testing.T, objs ...runtime.Object) *rig {
	r := &rig{client: fake.NewClientset(objs...), clock: clocktesting.NewFakeClock(t0.Time)}
	r.client.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if r.fail.Load() {
			return true, nil, apierrors.NewServiceUnavailable("apiserver away")
		}
		p := a.(k8stesting.PatchAction)
		stored, err := r.client.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, p.GetNamespace(), p.GetName())
		if err != nil {
			return true, nil, err
		}
		if want := string(stored.(*v1.Pod).UID); !strings.Contains(string(p.GetPatch()), `"uid":"`+want+`"`) {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, p.GetName(), errors.New("UID precondition failed"))
		}
		return false, nil, nil
	})
	r.m = New(Options{Client: r.client, Clock: r.clock})
	return r
}

// verbs lists the client's actions as "verb/subresource".
func (r *rig) verbs() string {
	var out []string
	for _, a := range r.client.Actions() {
		s := a.GetVerb()
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		out = append(out, s)
	}
	r.client.ClearActions()
	return strings.Join(out, ",")
}

func (r *rig) stored(t *testing.T) *v1.Pod {
	t.Helper()
	p, err := r.client.CoreV1().Pods("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.client.ClearActions()
	return p
}

var runningStatus = v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{cond(v1.PodReady, v1.ConditionTrue)}}

func TestManagerPatchesOnlyOnChange(t *testing.T) {
	gate := cond("example.com/Gate", v1.ConditionTrue)
	r := newRig(t, apiPod("u1", v1.PodStatus{Phase: v1.PodPending, Conditions: []v1.PodCondition{gate}}))
	ctx := context.Background()

	r.m.SetStatus("default", "web", "u1", runningStatus, false)
	r.m.syncBatch(ctx, false)
	if got := r.verbs(); got != "get,patch/status" {
		t.Fatalf("first sync: %s, want get,patch/status", got)
	}
	p := r.stored(t)
	if p.Status.Phase != v1.PodRunning || condString(p.Status.Conditions) != "example.com/Gate=True,Ready=True" {
		t.Errorf("stored status %s %s", p.Status.Phase, condString(p.Status.Conditions))
	}

	// The same status again is no write, and nothing is due.
	r.m.SetStatus("default", "web", "u1", runningStatus, false)
	r.m.syncBatch(ctx, false)
	if got := r.verbs(); got != "" {
		t.Errorf("unchanged status: %s, want nothing", got)
	}
	// A resync reads the pod and finds it current: no patch.
	r.m.syncBatch(ctx, true)
	if got := r.verbs(); got != "get" {
		t.Errorf("resync of a current pod: %s, want get", got)
	}
}

func TestManagerSkipsRecreatedPod(t *testing.T) {
	r := newRig(t, apiPod("u2", v1.PodStatus{Phase: v1.PodPending}))
	r.m.SetStatus("default", "web", "u1", runningStatus, false)
	r.m.syncBatch(context.Background(), false)
	if got := r.verbs(); got != "get" {
		t.Errorf("status of an old UID: %s, want only get", got)
	}
	if p := r.stored(t); p.Status.Phase != v1.PodPending {
		t.Errorf("the re-created pod's status was overwritten: %s", p.Status.Phase)
	}
}

func TestManagerRetriesAndResyncsDrift(t *testing.T) {
	r := newRig(t, apiPod("u1", v1.PodStatus{Phase: v1.PodPending}))
	ctx := context.Background()
	r.fail.Store(true)
	r.m.SetStatus("default", "web", "u1", runningStatus, false)
	r.m.syncBatch(ctx, false)
	if p := r.stored(t); p.Status.Phase != v1.PodPending {
		t.Fatal("failed patch stored")
	}
	r.fail.Store(false)
	// Still due: the next batch, even without a new status, writes it.
	r.m.syncBatch(ctx, false)
	if p := r.stored(t); p.Status.Phase != v1.PodRunning {
		t.Fatalf("not retried: %s", p.Status.Phase)
	}
	// Someone else overwrites the kubelet's fields: the resync puts them back.
	p := r.stored(t)
	p.Status.Phase = v1.PodPending
	if _, err := r.client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r.m.syncBatch(ctx, true)
	if p := r.stored(t); p.Status.Phase != v1.PodRunning {
		t.Errorf("drift not reconciled: %s", p.Status.Phase)
	}
}

func TestManagerDeletesFinishedPodBeingDeleted(t *testing.T) {
	pod := apiPod("u1", runningStatus)
	pod.DeletionTimestamp = &now
	pod.Finalizers = nil
	r := newRig(t, pod)
	ctx := context.Background()
	succeeded := v1.PodStatus{Phase: v1.PodSucceeded, Conditions: []v1.PodCondition{cond(v1.PodReady, v1.ConditionFalse)}}

	// Terminal but the worker has not released everything: no delete yet.
	r.m.SetStatus("default", "web", "u1", succeeded, false)
	r.m.syncBatch(ctx, false)
	if got := r.verbs(); got != "get,patch/status" {
		t.Fatalf("terminal, not finished: %s", got)
	}
	r.m.SetStatus("default", "web", "u1", succeeded, true)
	r.m.syncBatch(ctx, false)
	var del k8stesting.DeleteAction
	for _, a := range r.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			del = d
		}
	}
	if del == nil {
		t.Fatalf("finished pod not deleted: %s", r.verbs())
	}
	o := del.GetDeleteOptions()
	if o.GracePeriodSeconds == nil || *o.GracePeriodSeconds != 0 || o.Preconditions == nil || *o.Preconditions.UID != "u1" {
		t.Errorf("delete options %+v, want grace 0 and UID precondition u1", o)
	}
	r.m.mu.Lock()
	n := len(r.m.pods)
	r.m.mu.Unlock()
	if n != 0 {
		t.Errorf("deleted pod still tracked")
	}
}

func TestManagerRunKickAndResync(t *testing.T) {
	r := newRig(t, apiPod("u1", v1.PodStatus{Phase: v1.PodPending}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	r.m.SetStatus("default", "web", "u1", runningStatus, false)
	waitFor(t, func() bool { return r.stored(t).Status.Phase == v1.PodRunning })

	p := r.stored(t)
	p.Status.Phase = v1.PodPending
	if _, err := r.client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return r.clock.HasWaiters() })
	r.clock.Step(DefaultResync)
	waitFor(t, func() bool { return r.stored(t).Status.Phase == v1.PodRunning })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5s")
}
