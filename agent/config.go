package agent

import (
	"errors"
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/sources"
)

// The pod configuration: what pods the agent is asked to run, as kubelet's
// config package keeps it. The API and the sources change it under a.mu;
// each change is persisted before it is acknowledged, then handed to the
// pod's worker as a request.

// addPodLocked stores a new desired pod, admits it and starts its worker.
// If an older pod with the same name is still terminating, the new one
// waits for it. Nothing is kept when persisting fails.
func (a *Agent) addPodLocked(pod *v1.Pod, source string) (*podWorker, error) {
	k := key(pod.Namespace, pod.Name)
	var after <-chan struct{}
	if old := a.workers[a.byName[k]]; old != nil && old.uid != pod.UID {
		after = old.done
	}
	if pod.CreationTimestamp.IsZero() {
		pod.CreationTimestamp = metav1.NewTime(a.clock.Now())
	}
	if pod.Spec.NodeName == "" {
		pod.Spec.NodeName = a.node.cfg.Name // bound to this node, as the scheduler would
	}
	rec := &podRecord{Pod: pod, Source: source, Containers: map[string]*containerRecord{}, StartTime: a.clock.Now()}
	a.admitLocked(rec, a.activePodsLocked())
	a.opts.Metrics.PodAdded(pod.UID, rec.StartTime)
	w := newPodWorker(a, rec, after, false)
	w.desired = pod.DeepCopy()
	if err := a.persistDesiredLocked(w); err != nil {
		return nil, fmt.Errorf("store pod: %w", err)
	}
	w.checkpoint()
	a.byName[k] = pod.UID
	a.startWorkerLocked(w)
	a.notifyIfChangedLocked(pod.UID, w.snap.Load().pod)
	a.log.Info("pod added", "pod", podFullName(pod), "source", source)
	return w, nil
}

// deletePodLocked records the deletion of a pod (persisted first) and asks
// its worker to stop and remove it. A second deletion can only shorten
// the grace period.
func (a *Agent) deletePodLocked(w *podWorker, grace *int64) error {
	d := w.desired.DeepCopy()
	if d.DeletionTimestamp == nil {
		now := metav1.NewTime(a.clock.Now())
		d.DeletionTimestamp = &now
		secs := int64(gracePeriod(d, grace).Seconds())
		d.DeletionGracePeriodSeconds = &secs
	} else if grace != nil && d.DeletionGracePeriodSeconds != nil && *grace < *d.DeletionGracePeriodSeconds {
		g := *grace
		d.DeletionGracePeriodSeconds = &g
	} else {
		w.requestDelete(*d.DeletionTimestamp, d.DeletionGracePeriodSeconds)
		return nil
	}
	prev := w.desired
	w.desired = d
	if err := a.persistDesiredLocked(w); err != nil {
		w.desired = prev
		return fmt.Errorf("store deletion: %w", err)
	}
	w.requestDelete(*d.DeletionTimestamp, d.DeletionGracePeriodSeconds)
	return nil
}

// forget drops a removed pod from every index and from disk.
func (a *Agent) forget(uid types.UID) {
	for _, p := range []string{a.checkpointPath(uid), a.desiredPath(uid)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Warn("remove pod state", "uid", uid, "file", p, "err", err)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.workers[uid]
	if w == nil {
		return
	}
	delete(a.workers, uid)
	k := key(w.desired.Namespace, w.desired.Name)
	if a.byName[k] == uid {
		delete(a.byName, k)
	}
	last := a.published[uid]
	delete(a.published, uid)
	if last != nil {
		a.notifyLocked("DELETED", last)
	}
	a.events.forget(uid)
	a.opts.Metrics.ForgetPod(uid, w.desired.Namespace, w.desired.Name)
}

// applySourceUpdate reconciles the complete pod set of one source.
func (a *Agent) applySourceUpdate(u sources.Update) {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := map[types.UID]*v1.Pod{}
	for _, p := range u.Pods {
		want[p.UID] = p
	}
	for uid, w := range a.workers {
		if w.source == u.Source && want[uid] == nil && w.desired.DeletionTimestamp == nil {
			a.log.Info("pod removed from source", "pod", podFullName(w.desired), "source", u.Source)
			if err := a.deletePodLocked(w, nil); err != nil {
				a.log.Error("delete pod", "pod", podFullName(w.desired), "err", err)
			}
		}
	}
	for uid, p := range want {
		if _, ok := a.workers[uid]; ok {
			continue
		}
		if other := a.workers[a.byName[key(p.Namespace, p.Name)]]; other != nil && other.source != u.Source {
			a.log.Error("pod name taken by another source", "pod", p.Namespace+"/"+p.Name, "source", other.source)
			continue
		}
		if _, err := a.addPodLocked(p.DeepCopy(), u.Source); err != nil {
			a.log.Error("add pod", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
}

// activePodsLocked lists the admitted pods that still hold resources on
// this node (not rejected, not finished).
func (a *Agent) activePodsLocked() []*v1.Pod {
	var out []*v1.Pod
	for _, s := range a.snapshotsLocked() {
		if s.active {
			out = append(out, s.pod)
		}
	}
	return out
}
