package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/runtime"
)

// Two files per pod survive an agent crash:
//
//	desired/<uid>.json      the pod as the API or a source handed it over,
//	                        deletion included; written before the API answers
//	checkpoints/<uid>.json  the worker's record: instances, back-off, phase
//
// Both are written atomically (temp file, fsync, rename, directory fsync).

// desiredPod is the desired state of one pod.
type desiredPod struct {
	Pod    json.RawMessage `json:"pod"`
	Source string          `json:"source"`
}

func (a *Agent) checkpointPath(uid types.UID) string {
	return filepath.Join(a.opts.RootDir, "checkpoints", string(uid)+".json")
}

func (a *Agent) desiredPath(uid types.UID) string {
	return filepath.Join(a.opts.RootDir, "desired", string(uid)+".json")
}

// persistDesired stores the desired pod of a worker; the caller holds a.mu.
func (a *Agent) persistDesiredLocked(w *podWorker) error {
	pod, err := json.Marshal(w.desired)
	if err != nil {
		return err
	}
	data, err := json.Marshal(desiredPod{Pod: pod, Source: w.source})
	if err != nil {
		return err
	}
	return writeFileAtomic(a.desiredPath(w.uid), data)
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

// readDir reads every <uid>.json of dir with decode; unreadable files are
// logged and skipped.
func (a *Agent) readDir(dir string, decode func(uid types.UID, data []byte) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			// A write the agent did not finish (it died before the rename).
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				a.log.Warn("remove unfinished state file", "file", name, "err", err)
			}
			continue
		}
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := decode(types.UID(strings.TrimSuffix(name, ".json")), data); err != nil {
			a.log.Error("skipping unreadable state file", "file", path, "err", err)
		}
	}
	return nil
}

// loadRecords reads the desired pods and the checkpoints into records.
func (a *Agent) loadRecords() (map[types.UID]*podRecord, error) {
	recs := map[types.UID]*podRecord{}
	err := a.readDir(filepath.Join(a.opts.RootDir, "checkpoints"), func(uid types.UID, data []byte) error {
		var rec podRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			return err
		}
		if rec.Pod == nil || rec.Pod.UID != uid {
			return fmt.Errorf("no pod of UID %s", uid)
		}
		recs[uid] = &rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = a.readDir(filepath.Join(a.opts.RootDir, "desired"), func(uid types.UID, data []byte) error {
		var d desiredPod
		if err := json.Unmarshal(data, &d); err != nil {
			return err
		}
		rec := recs[uid]
		if rec == nil {
			// Acknowledged, not yet synced: the record starts fresh.
			rec = &podRecord{Source: d.Source, Containers: map[string]*containerRecord{}}
			recs[uid] = rec
		}
		if err := json.Unmarshal(d.Pod, &rec.Pod); err != nil {
			return err
		}
		if rec.Pod.DeletionTimestamp != nil && !rec.Deleting {
			rec.Deleting = true
			rec.Grace = rec.Pod.DeletionGracePeriodSeconds
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for uid, rec := range recs {
		if rec.Pod == nil || rec.Pod.UID != uid {
			delete(recs, uid)
		}
	}
	return recs, nil
}

// restore loads the pods, removes runtime containers nobody knows, and
// starts the pods' workers; each worker first reconciles its instances
// with the runtime. It runs before the API serves.
func (a *Agent) restore(ctx context.Context) error {
	recs, err := a.loadRecords()
	if err != nil {
		return err
	}
	if a.isRuntimeUp() {
		known := map[string]bool{}
		for _, rec := range recs {
			for _, id := range rec.runtimeIDs() {
				known[id] = true
			}
		}
		a.removeOrphans(ctx, func(c runtime.ContainerStatus) bool { return known[c.ID] })
	}
	// Deleting pods first, so a newer pod of the same name waits for them.
	list := make([]*podRecord, 0, len(recs))
	for _, rec := range recs {
		list = append(list, rec)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Deleting != list[j].Deleting {
			return list[i].Deleting
		}
		return list[i].Pod.CreationTimestamp.Before(&list[j].Pod.CreationTimestamp)
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	a.readmitUnstartedLocked(list)
	for _, rec := range list {
		k := key(rec.Pod.Namespace, rec.Pod.Name)
		var after <-chan struct{}
		if old := a.workers[a.byName[k]]; old != nil {
			after = old.done
		}
		w := newPodWorker(a, rec, after, true)
		w.desired = rec.Pod.DeepCopy()
		a.byName[k] = w.uid
		a.published[w.uid] = w.snap.Load().pod
		a.log.Info("re-adopted pod", "pod", podFullName(rec.Pod), "containers", len(rec.instances()))
		a.startWorkerLocked(w)
	}
	return nil
}

// removeOrphans deletes runtime containers for which keep says no.
func (a *Agent) removeOrphans(ctx context.Context, keep func(runtime.ContainerStatus) bool) {
	list, err := a.rt.ListContainers(ctx)
	if err != nil {
		a.log.Warn("list containers", "err", err)
		return
	}
	for _, c := range list {
		if keep(c) {
			continue
		}
		a.log.Info("removing orphaned container", "id", c.ID, "pod", c.Labels[runtime.LabelPodName])
		if err := a.rt.RemoveContainer(ctx, c.ID); err != nil {
			a.log.Warn("remove orphan", "id", c.ID, "err", err)
		}
	}
}

// readmitUnstartedLocked runs admission again, in creation order, for
// restored pods that never started a container: the node may have changed
// while the agent was away. Pods that already run keep running
// (IgnoredDuringExecution). The workers do not run yet.
func (a *Agent) readmitUnstartedLocked(list []*podRecord) {
	var active []*v1.Pod
	var unstarted []*podRecord
	for _, rec := range list {
		switch {
		case rec.Rejected || rec.Terminal != "" || rec.Deleting:
		case len(rec.instances()) > 0 || rec.Sandbox != nil || rec.hasStarted():
			active = append(active, rec.Pod)
		default:
			unstarted = append(unstarted, rec)
		}
	}
	for _, rec := range unstarted {
		a.admitLocked(rec, active)
		if !rec.Rejected {
			active = append(active, rec.Pod)
		}
	}
}
