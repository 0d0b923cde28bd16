package statusmanager

import (
	"context"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// DefaultResync is how often every pod's status is compared with the API
// server's, the kubelet's status sync period.
const DefaultResync = 10 * time.Second

// Options configure a Manager.
type Options struct {
	Client kubernetes.Interface
	Clock  clock.WithTicker // nil: the real clock
	Log    *slog.Logger     // nil: discard
	Resync time.Duration    // 0: DefaultResync
	// Cached, if set, returns the API server's pod as the agent's informer
	// last saw it (nil if it has none); the resync compares with it instead
	// of reading every pod from the API server.
	Cached func(namespace, name string) *v1.Pod
}

// Manager writes pod statuses to the API server; see the package doc.
type Manager struct {
	o    Options
	kick chan struct{}

	mu   sync.Mutex
	pods map[types.UID]*entry
}

// entry is what the manager knows of one pod.
type entry struct {
	namespace, name string
	status          v1.PodStatus
	finished        bool   // the worker is done with the pod (terminal, released)
	version, synced uint64 // version of status; the last version written (or found current)
}

// New returns a Manager; Run starts its work.
func New(o Options) *Manager {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Resync <= 0 {
		o.Resync = DefaultResync
	}
	return &Manager{o: o, kick: make(chan struct{}, 1), pods: map[types.UID]*entry{}}
}

// SetStatus records the status the agent computed for the pod
// namespace/name with uid. finished says the worker is done with the pod:
// terminal, containers and resources released. It never blocks on the API
// server.
func (m *Manager) SetStatus(namespace, name string, uid types.UID, status v1.PodStatus, finished bool) {
	m.mu.Lock()
	e := m.pods[uid]
	if e == nil {
		e = &entry{namespace: namespace, name: name}
		m.pods[uid] = e
	}
	if e.finished == finished && apiequality.Semantic.DeepEqual(e.status, status) {
		m.mu.Unlock()
		return
	}
	e.status, e.finished = *status.DeepCopy(), finished
	e.version++
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Forget drops the pod. The manager forgets on its own a pod that is gone
// from the API server (or has another UID there) and a finished pod it
// deleted there; a caller forgets a pod whose status must not be written
// any more.
func (m *Manager) Forget(uid types.UID) {
	m.mu.Lock()
	delete(m.pods, uid)
	m.mu.Unlock()
}

// Run syncs changed pods when told and all pods every resync period,
// until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	t := m.o.Clock.NewTicker(m.o.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
			m.syncBatch(ctx, false)
		case <-t.C():
			m.syncBatch(ctx, true)
		}
	}
}

// work is one pod to sync, copied out of the lock.
type work struct {
	uid     types.UID
	e       entry
	compare bool // a resync: compare with the API server even if synced
}

// syncBatch syncs every pod whose status moved on since its last write
// and, with all, every other pod too.
func (m *Manager) syncBatch(ctx context.Context, all bool) {
	m.mu.Lock()
	var todo []work
	for uid, e := range m.pods {
		if e.synced < e.version || all || e.finished {
			todo = append(todo, work{uid: uid, e: *e, compare: e.synced >= e.version})
		}
	}
	m.mu.Unlock()
	for _, w := range todo {
		if ctx.Err() != nil {
			return
		}
		if m.syncPod(ctx, w) {
			m.mu.Lock()
			if e := m.pods[w.uid]; e != nil && e.synced < w.e.version {
				e.synced = w.e.version
			}
			m.mu.Unlock()
		}
	}
}

// syncPod brings the API server's status of one pod in line with the
// agent's and reports whether it is (false: try again later).
func (m *Manager) syncPod(ctx context.Context, w work) bool {
	log := m.o.Log.With("pod", w.e.namespace+"/"+w.e.name, "uid", w.uid)
	var pod *v1.Pod
	if w.compare && m.o.Cached != nil {
		if pod = m.o.Cached(w.e.namespace, w.e.name); pod != nil && pod.UID == w.uid {
			merged := Merge(pod.Status, w.e.status, metav1.NewTime(m.o.Clock.Now()))
			if _, unchanged, err := PatchBytes(pod.UID, pod.Status, merged); err == nil && unchanged && !canBeDeleted(pod, w.e.finished) {
				return true
			}
		}
	}
	pods := m.o.Client.CoreV1().Pods(w.e.namespace)
	pod, err := pods.Get(ctx, w.e.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Gone from the API server, and a UID never comes back: nothing
		// to write, now or later.
		m.Forget(w.uid)
		return true
	}
	if err != nil {
		log.Info("cannot read pod for its status update", "err", err)
		return false
	}
	if pod.UID != w.uid {
		log.Debug("pod was deleted and re-created: status not written", "new_uid", pod.UID)
		m.Forget(w.uid)
		return true
	}
	merged := Merge(pod.Status, w.e.status, metav1.NewTime(m.o.Clock.Now()))
	patch, unchanged, err := PatchBytes(pod.UID, pod.Status, merged)
	if err != nil {
		log.Error("cannot compute status patch", "err", err)
		return false
	}
	if !unchanged {
		pod, err = pods.Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		if err != nil {
			log.Info("status update failed", "err", err)
			return false
		}
		log.Debug("status updated", "patch", string(patch))
	}
	if canBeDeleted(pod, w.e.finished) {
		zero := int64(0)
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
		})
		if err != nil && !apierrors.IsNotFound(err) {
			log.Info("cannot remove finished pod from the API server", "err", err)
			return false
		}
		log.Debug("finished pod removed from the API server")
		m.Forget(w.uid)
	}
	return true
}
