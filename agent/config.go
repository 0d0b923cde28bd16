package agent

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/podstatus"
	"github.com/miniagent/miniagent/agent/sources"
	"github.com/miniagent/miniagent/agent/spec"
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
	if pod.DeletionTimestamp != nil {
		// A source's pod that is being deleted already: the worker's first
		// sync sees the deletion, so nothing of it starts.
		w.requestDelete(*pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds)
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

// applySourceUpdate reconciles the complete pod set of one source: pods
// missing from it are deleted, new ones added, and for the pods it already
// has a deletion seen in the source (the API server's deletionTimestamp)
// becomes a deletion with the source's grace period (it only shrinks), a
// changed spec, labels or annotations an in-place update. A new pod the
// source already shows finished (phase Succeeded or Failed) is not
// started; one it shows deleted is added as deleted (addPodLocked), so
// that its deletion completes through a worker like any other.
func (a *Agent) applySourceUpdate(u sources.Update) {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := map[types.UID]*v1.Pod{}
	for _, p := range u.Pods {
		want[p.UID] = p
	}
	for uid, w := range a.workers {
		if w.source != u.Source || w.desired.DeletionTimestamp != nil {
			continue
		}
		p := want[uid]
		switch {
		case p == nil:
			a.log.Info("pod removed from source", "pod", podFullName(w.desired), "source", u.Source)
			if err := a.deletePodLocked(w, nil); err != nil {
				a.log.Error("delete pod", "pod", podFullName(w.desired), "err", err)
			}
		case p.DeletionTimestamp == nil:
			a.updateFromSourceLocked(w, p)
		}
	}
	for uid, p := range want {
		if w, ok := a.workers[uid]; ok {
			if p.DeletionTimestamp != nil {
				a.deleteFromSourceLocked(w, p)
			}
			continue
		}
		if podstatus.IsTerminal(p.Status.Phase) {
			continue // finished before this agent knew it: nothing to run
		}
		if other := a.workers[a.byName[key(p.Namespace, p.Name)]]; other != nil && other.source != u.Source {
			a.log.Error("pod name taken by another source", "pod", p.Namespace+"/"+p.Name, "source", other.source)
			continue
		}
		pod := p.DeepCopy()
		pod.Status = v1.PodStatus{}
		if _, err := a.addPodLocked(pod, u.Source); err != nil {
			a.log.Error("add pod", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
}

// deleteFromSourceLocked passes a deletion the source shows on to the
// pod's worker, unless the agent has it with the same or a shorter grace.
func (a *Agent) deleteFromSourceLocked(w *podWorker, p *v1.Pod) {
	d := w.desired
	g := p.DeletionGracePeriodSeconds
	if d.DeletionTimestamp != nil && (g == nil || d.DeletionGracePeriodSeconds == nil || *g >= *d.DeletionGracePeriodSeconds) {
		return
	}
	grace := "pod's"
	if g != nil {
		grace = strconv.FormatInt(*g, 10) + "s"
	}
	a.log.Info("pod deleted in source", "pod", podFullName(d), "source", w.source, "grace", grace)
	if err := a.deletePodLocked(w, g); err != nil {
		a.log.Error("delete pod", "pod", podFullName(d), "err", err)
	}
}

// updateFromSourceLocked applies a change of a source's pod in place when
// it is one a running pod may take (spec.ValidatePodUpdate), and logs it
// otherwise.
func (a *Agent) updateFromSourceLocked(w *podWorker, p *v1.Pod) {
	d := w.desired
	if equality.Semantic.DeepEqual(d.Spec, p.Spec) && equality.Semantic.DeepEqual(d.Labels, p.Labels) && equality.Semantic.DeepEqual(d.Annotations, p.Annotations) {
		return
	}
	if errs := spec.ValidatePodUpdate(p, d); len(errs) > 0 {
		a.log.Error("pod change from source not applied", "pod", podFullName(d), "source", w.source, "err", errs.ToAggregate())
		return
	}
	if _, err := a.updatePodLocked(w, p.DeepCopy()); err != nil {
		a.log.Error("update pod", "pod", podFullName(d), "err", err)
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
