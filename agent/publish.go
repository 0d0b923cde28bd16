package agent

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/podstatus"
)

// podSnapshot is what a pod worker publishes after each sync: the pod with
// its status and the few facts other parts of the agent read (admission,
// eviction, the taint manager, logs). It is never changed once published.
type podSnapshot struct {
	pod      *v1.Pod
	source   string
	active   bool // admitted and not finished: it counts on the node
	terminal bool // finished, or finishing
	deleting bool
	rejected bool
	// released: the pod holds nothing in the runtime any more (its
	// containers, sandbox, volumes and cgroup are gone).
	released bool
	cgroups  map[string]string // running container → its cgroup path
	running  map[string]string // running container → its runtime ID
	netns    string            // the sandbox's network namespace ("" = none or the host's)
	logs     map[string]containerLogs
	ids      []string // runtime container IDs the pod may hold
	held     runtimeHeld
}

// containerLogs are the log files of a container's newest two instances.
type containerLogs struct {
	current, previous logRef
	inBackoff         bool // the current instance is dead and waits for a restart
}

// logRef is one instance's log file ("" path: none).
type logRef struct {
	id, path string
	exited   bool
}

func logRefOf(in *instance) logRef {
	if in == nil {
		return logRef{}
	}
	return logRef{id: in.ID, path: in.LogPath, exited: in.Exited}
}

// render computes the pod's status and snapshot from the record and keeps
// the new conditions in the record.
func (w *podWorker) render() *podSnapshot {
	a, rec := w.a, w.rec
	pod := a.renderPod(rec, a.isRuntimeUp(), a.clock.Now())
	rec.Conditions = nil
	if !rec.Rejected {
		rec.Conditions = pod.Status.Conditions
	}
	s := &podSnapshot{
		pod:      pod,
		source:   rec.Source,
		active:   !rec.Rejected && rec.Terminal == "",
		terminal: rec.Terminal != "",
		deleting: rec.Deleting,
		rejected: rec.Rejected,
		released: rec.Released || (rec.Sandbox == nil && len(rec.runtimeIDs()) == 0),
		cgroups:  map[string]string{},
		running:  map[string]string{},
		logs:     map[string]containerLogs{},
		ids:      rec.runtimeIDs(),
		held:     heldBy(rec),
	}
	if rec.Sandbox != nil {
		s.netns = rec.Sandbox.NetNSPath
	}
	for name, c := range rec.Containers {
		if c.Current.running() {
			s.cgroups[name] = a.containerCgroupPath(rec.Pod, c.Current.ID)
			s.running[name] = c.Current.ID
		}
		s.logs[name] = containerLogs{
			current: logRefOf(c.Current), previous: logRefOf(c.Last),
			inBackoff: c.Current != nil && c.Current.Exited && c.Waiting != nil,
		}
	}
	return s
}

// PodStatusFunc is told each status a pod worker publishes, in order per
// pod, from the worker's goroutine; it must not block. pod is the pod as
// the agent shows it, status included (shared: never modify it), source
// the pod source's name. finished says the worker is done with the pod:
// its phase is terminal and nothing of it is held in the runtime any more.
// The last call for a deleted pod, just before the agent forgets it, has
// finished set.
type PodStatusFunc func(pod *v1.Pod, source string, finished bool)

// tellStatus hands a published snapshot to Options.OnPodStatus.
func (w *podWorker) tellStatus(s *podSnapshot) {
	if f := w.a.opts.OnPodStatus; f != nil {
		f(s.pod, s.source, s.released && podstatus.IsTerminal(s.pod.Status.Phase))
	}
}

// publish renders the pod, stores the snapshot and tells watchers when the
// pod changed.
func (w *podWorker) publish() {
	s := w.render()
	w.snap.Store(s)
	a := w.a
	a.opts.Metrics.ObservePod(s.pod, a.clock.Now())
	w.tellStatus(s)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.workers[w.uid] != w {
		return // forgotten already
	}
	a.notifyIfChangedLocked(w.uid, s.pod)
}

// notifyIfChangedLocked sends the pod to watchers unless it equals what
// was last sent.
func (a *Agent) notifyIfChangedLocked(uid types.UID, pod *v1.Pod) {
	old := a.published[uid]
	if old != nil && equality.Semantic.DeepEqual(old.Status, pod.Status) && equality.Semantic.DeepEqual(old.ObjectMeta, pod.ObjectMeta) {
		return
	}
	typ := "MODIFIED"
	if old == nil {
		typ = "ADDED"
	}
	a.published[uid] = pod
	a.notifyLocked(typ, pod)
}

// notifyLocked sends a watch event to every watcher of the pod's namespace
// without blocking; a watcher that cannot keep up is dropped.
func (a *Agent) notifyLocked(typ string, pod *v1.Pod) {
	for ch, ns := range a.watchers {
		if ns != "" && ns != pod.Namespace {
			continue
		}
		select {
		case ch <- api.WatchEvent{Type: typ, Pod: *pod.DeepCopy()}:
		default:
			close(ch)
			delete(a.watchers, ch)
		}
	}
}

// worker returns the worker of a pod, or nil.
func (a *Agent) worker(uid types.UID) *podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.workers[uid]
}

// snapshot returns the newest snapshot of a pod, or nil.
func (a *Agent) snapshot(uid types.UID) *podSnapshot {
	if w := a.worker(uid); w != nil {
		return w.snap.Load()
	}
	return nil
}

// snapshotsLocked lists the newest snapshot of every pod; the caller holds a.mu.
func (a *Agent) snapshotsLocked() []*podSnapshot {
	out := make([]*podSnapshot, 0, len(a.workers))
	for _, w := range a.workers {
		out = append(out, w.snap.Load())
	}
	return out
}
