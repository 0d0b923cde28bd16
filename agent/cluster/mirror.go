package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/sources"
)

// DefaultMirrorResync is how often the mirror pods are reconciled even
// when nothing was seen to change.
const DefaultMirrorResync = 10 * time.Second

// LocalPods is the agent's pods (agent.Agent implements it).
type LocalPods interface {
	ListPods(ctx context.Context, namespace string) ([]v1.Pod, error)
	GetPod(ctx context.Context, namespace, name string) (*v1.Pod, error)
	WatchPods(ctx context.Context, namespace string) (<-chan api.WatchEvent, error)
}

// MirrorOptions configure Mirrors.
type MirrorOptions struct {
	Client   kubernetes.Interface
	Local    LocalPods
	NodeName string
	// NodeUID is the UID of the registered Node ("" until then: no mirror
	// pod is created before, they are owned by the Node).
	NodeUID func() types.UID
	// OnChange, if set, is called (from Run's goroutine) each time the
	// mirror pod of a static pod is created, re-created or removed.
	OnChange func(MirrorChange)
	Resync   time.Duration    // 0: DefaultMirrorResync
	Clock    clock.WithTicker // nil: the real clock
	Log      *slog.Logger
}

// Mirrors keeps a mirror pod in the apiserver for every static pod of the
// agent, as kubelet's mirror client and pod manager do (see planMirrors),
// and tells which mirror pod stands for which static pod.
type Mirrors struct {
	o MirrorOptions

	mu      sync.Mutex
	mirrors map[types.UID]MirrorRef // static pod UID -> its mirror pod
	statics map[types.UID]bool      // static pod UIDs seen
	subs    []chan struct{}
	lister  func() []*v1.Pod // the informer's pods; nil before Run
}

// NewMirrors checks the options and returns Mirrors ready to Run.
func NewMirrors(o MirrorOptions) (*Mirrors, error) {
	if o.Client == nil || o.Local == nil || o.NodeUID == nil {
		return nil, errors.New("cluster mirrors: Client, Local and NodeUID are required")
	}
	if o.NodeName == "" {
		return nil, errors.New("--node-name: must not be empty in cluster mode")
	}
	if o.Resync <= 0 {
		o.Resync = DefaultMirrorResync
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Mirrors{o: o, mirrors: map[types.UID]MirrorRef{}, statics: map[types.UID]bool{}}, nil
}

// MirrorOf returns the mirror pod of the static pod with UID staticUID,
// if it has one. This is what the status manager writes a static pod's
// status to.
func (m *Mirrors) MirrorOf(staticUID types.UID) (MirrorRef, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref, ok := m.mirrors[staticUID]
	return ref, ok
}

// changes returns a channel that gets a value after every change of the
// mapping (one pending at most).
func (m *Mirrors) changes() <-chan struct{} {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	m.subs = append(m.subs, ch)
	m.mu.Unlock()
	return ch
}

// lookup tells whether the agent's pod ref names is a static pod, and its
// mirror pod if it has one.
func (m *Mirrors) lookup(ctx context.Context, ref v1.ObjectReference) (mirror MirrorRef, static, ok bool) {
	m.mu.Lock()
	mirror, ok = m.mirrors[ref.UID]
	static = m.statics[ref.UID]
	m.mu.Unlock()
	if static || ok {
		return mirror, true, ok
	}
	// Not seen yet (its first events can come before the pod watch).
	if p, err := m.o.Local.GetPod(ctx, ref.Namespace, ref.Name); err == nil && p.UID == ref.UID && isStatic(p) {
		m.mu.Lock()
		m.statics[p.UID] = true
		m.mu.Unlock()
		return MirrorRef{}, true, false
	}
	return MirrorRef{}, false, false
}

// Run watches the apiserver's pods on this node and the agent's pods and
// reconciles the mirror pods on every change and every resync period,
// until ctx ends. An unreachable apiserver is retried at the next round.
func (m *Mirrors) Run(ctx context.Context) error {
	// One pod informer of its own: client-go's informer factory would link
	// informers and listers for every API group into the daemon.
	inf := cache.NewSharedIndexInformer(sources.PodsOnNode(m.o.Client, m.o.NodeName), &v1.Pod{}, 0, cache.Indexers{})
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := func(obj any) {
		if p, ok := obj.(*v1.Pod); ok && !isMirror(p) {
			return // not ours to reconcile
		}
		poke()
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: handler, UpdateFunc: func(_, obj any) { handler(obj) }, DeleteFunc: func(any) { poke() },
	}); err != nil {
		return fmt.Errorf("mirror pods: %w", err)
	}
	store := inf.GetStore()
	m.mu.Lock()
	m.lister = func() []*v1.Pod {
		objs := store.List()
		pods := make([]*v1.Pod, 0, len(objs))
		for _, o := range objs {
			if p, ok := o.(*v1.Pod); ok {
				pods = append(pods, p)
			}
		}
		return pods
	}
	m.mu.Unlock()
	local, err := m.o.Local.WatchPods(ctx, "")
	if err != nil {
		return fmt.Errorf("watch the agent's pods: %w", err)
	}
	ictx, stopInformer := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.RunWithContext(ictx)
	}()
	defer func() { stopInformer(); <-done }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil // ctx ended
	}

	t := m.o.Clock.NewTicker(m.o.Resync)
	defer t.Stop()
	poke()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-local:
			if !ok {
				return nil
			}
			if isStatic(&ev.Pod) {
				poke()
			}
			continue
		case <-t.C():
		case <-kick:
		}
		m.reconcile(ctx)
	}
}

// reconcile brings the mirror pods in line with the static pods once.
func (m *Mirrors) reconcile(ctx context.Context) {
	nodeUID := m.o.NodeUID()
	if nodeUID == "" {
		return // the Node is not registered yet
	}
	local, err := m.o.Local.ListPods(ctx, "")
	if err != nil {
		m.o.Log.Warn("mirror pods: list the agent's pods", "err", err)
		return
	}
	var statics []*v1.Pod
	seen := map[types.UID]bool{}
	for i := range local {
		if isStatic(&local[i]) {
			statics = append(statics, &local[i])
			seen[local[i].UID] = true
		}
	}
	m.mu.Lock()
	apiPods := m.lister()
	prev := maps.Clone(m.mirrors)
	m.mu.Unlock()
	plan := planMirrors(statics, apiPods)
	for _, s := range plan.conflicts {
		m.o.Log.Warn("mirror pod not created: a pod that is no mirror pod has the static pod's name", "pod", s.Namespace+"/"+s.Name)
	}
	for _, mp := range plan.remove {
		m.deleteMirror(ctx, mp)
	}
	created := map[types.UID]MirrorRef{}
	for _, s := range plan.create {
		if ref, ok := m.createMirror(ctx, s, nodeUID); ok {
			created[s.UID] = ref
		}
	}
	// A mirror deleted because it was being deleted or outdated is created
	// again at once once gone; the informer's delete event brings the next
	// reconcile.
	next := mirrorMapping(prev, statics, plan, created)
	m.mu.Lock()
	m.mirrors = next
	for uid := range m.statics {
		if !seen[uid] {
			delete(m.statics, uid)
		}
	}
	maps.Copy(m.statics, seen)
	subs := m.subs
	m.mu.Unlock()
	changes := mirrorChanges(prev, next)
	for _, c := range changes {
		m.o.Log.Info("mirror pod", "static_uid", c.Static, "old", c.Old.UID, "new", c.New.UID, "pod", c.New.Namespace+"/"+c.New.Name)
		if m.o.OnChange != nil {
			m.o.OnChange(c)
		}
	}
	if len(changes) > 0 {
		for _, ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// createMirror creates the mirror pod of s; AlreadyExists is left to the
// next reconcile (it sees the pod there and checks it).
func (m *Mirrors) createMirror(ctx context.Context, s *v1.Pod, nodeUID types.UID) (MirrorRef, bool) {
	created, err := m.o.Client.CoreV1().Pods(s.Namespace).Create(ctx, mirrorPod(s, m.o.NodeName, nodeUID), metav1.CreateOptions{})
	if err != nil {
		if !apierrors.IsAlreadyExists(err) {
			m.o.Log.Warn("mirror pod not created", "pod", s.Namespace+"/"+s.Name, "err", err)
		}
		return MirrorRef{}, false
	}
	m.o.Log.Info("mirror pod created", "pod", created.Namespace+"/"+created.Name, "uid", created.UID, "static_uid", s.UID)
	return MirrorRef{Namespace: created.Namespace, Name: created.Name, UID: created.UID}, true
}

// deleteMirror deletes a mirror pod at once (grace 0) with its UID as
// precondition, as kubelet's mirror client does.
func (m *Mirrors) deleteMirror(ctx context.Context, mp *v1.Pod) {
	zero := int64(0)
	err := m.o.Client.CoreV1().Pods(mp.Namespace).Delete(ctx, mp.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: metav1.NewUIDPreconditions(string(mp.UID)),
	})
	switch {
	case err == nil:
		m.o.Log.Info("mirror pod deleted", "pod", mp.Namespace+"/"+mp.Name, "uid", mp.UID)
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// gone already, or another pod of that name now
	default:
		m.o.Log.Warn("mirror pod not deleted", "pod", mp.Namespace+"/"+mp.Name, "uid", mp.UID, "err", err)
	}
}

// StatusTarget is the apiserver pod that the status of the agent's pod p
// is written to: p itself, or for a static pod its mirror pod; ok is false
// for a static pod without one yet (OnChange tells when it has one).
func (m *Mirrors) StatusTarget(p *v1.Pod) (target MirrorRef, ok bool) {
	if !isStatic(p) {
		return MirrorRef{Namespace: p.Namespace, Name: p.Name, UID: p.UID}, true
	}
	return m.MirrorOf(p.UID)
}
