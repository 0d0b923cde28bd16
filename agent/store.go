package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/sources"
	"github.com/miniagent/miniagent/runtime"
)

// checkpointDir holds one JSON file per pod.
func (a *Agent) checkpointDir() string { return filepath.Join(a.opts.RootDir, "checkpoints") }

// checkpoint writes a pod's record atomically: temp file, fsync, rename.
func (a *Agent) checkpoint(uid types.UID) {
	a.mu.Lock()
	rec := a.pods[uid]
	if rec == nil {
		a.mu.Unlock()
		return
	}
	data, err := json.Marshal(rec)
	a.mu.Unlock()
	if err == nil {
		err = writeFileAtomic(filepath.Join(a.checkpointDir(), string(uid)+".json"), data)
	}
	if err != nil {
		a.log.Error("checkpoint pod", "uid", uid, "err", err)
	}
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// restore loads the checkpoints, reconciles them with what the runtime
// runs, removes containers nobody knows, and starts the pods' workers.
func (a *Agent) restore(ctx context.Context) error {
	entries, err := os.ReadDir(a.checkpointDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(a.checkpointDir(), e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var rec podRecord
		if err := json.Unmarshal(data, &rec); err != nil || rec.Pod == nil {
			a.log.Error("skipping unreadable checkpoint", "file", path, "err", err)
			continue
		}
		a.pods[rec.Pod.UID] = &rec
		a.byName[key(rec.Pod.Namespace, rec.Pod.Name)] = rec.Pod.UID
	}
	if a.runtimeUp {
		a.reconcile(ctx)
		a.removeOrphans(ctx)
	}
	a.readmitUnstarted()
	// Probe the containers that kept running while the agent was away.
	type probed struct {
		pod  *v1.Pod
		name string
		in   *instance
	}
	var running []probed
	a.mu.Lock()
	for _, rec := range a.pods {
		for name, c := range rec.Containers {
			if c.Current.running() {
				running = append(running, probed{rec.Pod, name, c.Current})
			}
		}
	}
	a.mu.Unlock()
	for _, p := range running {
		a.watchProbes(p.pod, p.name, p.in)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for uid, rec := range a.pods {
		a.log.Info("re-adopted pod", "pod", podFullName(rec.Pod), "containers", len(rec.instances()))
		a.startWorkerLocked(uid, nil)
	}
	return nil
}

// reconcile brings every instance believed running up to date with the
// runtime: exits that happened while the agent or the runtime was away.
func (a *Agent) reconcile(ctx context.Context) {
	a.mu.Lock()
	var ids []string
	for _, rec := range a.pods {
		for _, in := range rec.instances() {
			if !in.Exited {
				ids = append(ids, in.ID)
			}
		}
	}
	a.mu.Unlock()
	for _, id := range ids {
		st, err := a.rt.ContainerStatus(ctx, id)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			a.recordExit(id, 137, a.clock.Now(), false, "ContainerStatusUnknown",
				"The container could not be located when the pod was terminated")
		case err != nil:
			a.log.Warn("container status", "id", id, "err", err)
		case st.State == runtime.StateExited:
			a.recordExit(id, st.ExitCode, st.FinishedAt, st.OOMKilled, "", "")
		case st.State == runtime.StateRunning:
			a.mu.Lock()
			for _, rec := range a.pods {
				if _, in := rec.findInstance(id); in != nil && in.StartedAt.IsZero() {
					in.StartedAt = st.StartedAt
				}
			}
			a.mu.Unlock()
		}
	}
}

// removeOrphans deletes runtime containers that belong to no known pod.
func (a *Agent) removeOrphans(ctx context.Context) {
	list, err := a.rt.ListContainers(ctx)
	if err != nil {
		a.log.Warn("list containers", "err", err)
		return
	}
	a.mu.Lock()
	known := map[string]bool{}
	for _, rec := range a.pods {
		for _, in := range rec.instances() {
			known[in.ID] = true
		}
	}
	a.mu.Unlock()
	for _, c := range list {
		if known[c.ID] {
			continue
		}
		a.log.Info("removing orphaned container", "id", c.ID, "pod", c.Labels[runtime.LabelPodName])
		if err := a.rt.RemoveContainer(ctx, c.ID); err != nil {
			a.log.Warn("remove orphan", "id", c.ID, "err", err)
		}
	}
}

// addPodLocked stores a new desired pod and starts its worker. If an older
// pod with the same name is still terminating, the new one waits for it.
func (a *Agent) addPodLocked(pod *v1.Pod, source string) {
	k := key(pod.Namespace, pod.Name)
	var after <-chan struct{}
	if old, ok := a.byName[k]; ok && old != pod.UID {
		if w := a.workers[old]; w != nil {
			after = w.done
		}
	}
	rec := &podRecord{Pod: pod, Source: source, Containers: map[string]*containerRecord{}}
	rec.StartTime = a.clock.Now()
	a.admitLocked(rec)
	if pod.CreationTimestamp.IsZero() {
		pod.CreationTimestamp = metav1.NewTime(a.clock.Now())
	}
	if pod.Spec.NodeName == "" {
		pod.Spec.NodeName = a.node.cfg.Name // bound to this node, as the scheduler would
	}
	a.pods[pod.UID] = rec
	a.byName[k] = pod.UID
	a.startWorkerLocked(pod.UID, after)
	a.log.Info("pod added", "pod", podFullName(pod), "source", source)
}

// deletePodLocked marks a pod for deletion; its worker stops and removes it.
func (a *Agent) deletePodLocked(uid types.UID, grace *int64) {
	rec := a.pods[uid]
	if rec == nil {
		return
	}
	if !rec.Deleting {
		now := metav1.NewTime(a.clock.Now())
		rec.Pod.DeletionTimestamp = &now
		g := gracePeriod(rec.Pod, grace)
		secs := int64(g.Seconds())
		rec.Pod.DeletionGracePeriodSeconds = &secs
		rec.Deleting = true
		rec.Grace = &secs
	} else if grace != nil && rec.Grace != nil && *grace < *rec.Grace {
		rec.Grace = grace
	}
	if w := a.workers[uid]; w != nil {
		w.poke()
	}
}

// forget drops a removed pod from every index.
func (a *Agent) forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.pods[uid]
	if rec == nil {
		return
	}
	delete(a.pods, uid)
	delete(a.workers, uid)
	k := key(rec.Pod.Namespace, rec.Pod.Name)
	if a.byName[k] == uid {
		delete(a.byName, k)
	}
	if err := os.Remove(filepath.Join(a.checkpointDir(), string(uid)+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Warn("remove checkpoint", "uid", uid, "err", err)
	}
	pod := a.buildPodLocked(rec)
	delete(a.published, uid)
	a.notifyLocked("DELETED", pod)
	a.events.forget(uid)
}

// applySourceUpdate reconciles the complete pod set of one source.
func (a *Agent) applySourceUpdate(u sources.Update) {
	a.mu.Lock()
	defer a.mu.Unlock()
	want := map[types.UID]*v1.Pod{}
	for _, p := range u.Pods {
		want[p.UID] = p
	}
	for uid, rec := range a.pods {
		if rec.Source == u.Source && want[uid] == nil && !rec.Deleting {
			a.log.Info("pod removed from source", "pod", podFullName(rec.Pod), "source", u.Source)
			a.deletePodLocked(uid, nil)
		}
	}
	for uid, p := range want {
		if _, ok := a.pods[uid]; ok {
			continue
		}
		if other, ok := a.byName[key(p.Namespace, p.Name)]; ok {
			if rec := a.pods[other]; rec != nil && rec.Source != u.Source {
				a.log.Error("pod name taken by another source", "pod", p.Namespace+"/"+p.Name, "source", rec.Source)
				continue
			}
		}
		a.addPodLocked(p.DeepCopy(), u.Source)
	}
}

// readmitUnstarted runs admission again, in creation order, for restored
// pods that never started a container: the node may have changed while the
// agent was away. Pods that already run keep running
// (IgnoredDuringExecution).
func (a *Agent) readmitUnstarted() {
	a.mu.Lock()
	defer a.mu.Unlock()
	var recs []*podRecord
	for _, rec := range a.pods {
		if rec.Rejected || rec.Terminal != "" || rec.Deleting || len(rec.instances()) > 0 || rec.Sandbox != nil {
			continue
		}
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool {
		return recs[i].Pod.CreationTimestamp.Before(&recs[j].Pod.CreationTimestamp)
	})
	for _, rec := range recs {
		a.admitLocked(rec)
	}
}
