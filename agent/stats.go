package agent

import (
	"context"
	"os"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/eviction"
	"github.com/miniagent/miniagent/cgroups"
)

// Resource use for `top`, read from the cgroups as kubelet's cAdvisor does:
// CPU is the rate between two readings of the cumulative usage, memory the
// working set. A sampler reads every running container's CPU time each
// statsPeriod and keeps the last two readings, so a Stats call usually has
// a base reading already; when one lacks it, Stats reads twice,
// statsMinWindow apart.

const (
	statsPeriod    = 10 * time.Second
	statsMinWindow = time.Second
	rootCgroup     = "/"
)

// cpuSampler keeps the last two CPU readings of each cgroup path.
type cpuSampler struct {
	mu   sync.Mutex
	last map[string][2]cgroups.CPUSample // [0] older, [1] newer (zero: none)
}

func newCPUSampler() *cpuSampler { return &cpuSampler{last: map[string][2]cgroups.CPUSample{}} }

// add records a reading as the newest of its path.
func (s *cpuSampler) add(path string, smp cgroups.CPUSample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.last[path]
	s.last[path] = [2]cgroups.CPUSample{l[1], smp}
}

// base returns the newest stored reading at least minWindow before cur.
func (s *cpuSampler) base(path string, cur cgroups.CPUSample) (cgroups.CPUSample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pickBase(s.last[path], cur, statsMinWindow)
}

// pickBase chooses the reading a rate is computed from: the newest of
// last taken at least minWindow before cur (a reset counter disqualifies).
func pickBase(last [2]cgroups.CPUSample, cur cgroups.CPUSample, minWindow time.Duration) (cgroups.CPUSample, bool) {
	for i := 1; i >= 0; i-- {
		b := last[i]
		if !b.At.IsZero() && cur.At.Sub(b.At) >= minWindow && b.Usage <= cur.Usage {
			return b, true
		}
	}
	return cgroups.CPUSample{}, false
}

// keepOnly forgets the paths not in keep.
func (s *cpuSampler) keepOnly(keep map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.last {
		if !keep[p] {
			delete(s.last, p)
		}
	}
}

// statsTarget is one running container whose cgroup is read.
type statsTarget struct {
	ref        api.PodReference
	container  string
	cgroupPath string
}

// statsTargets lists the running containers, sorted by pod and name.
func (a *Agent) statsTargets() []statsTarget {
	a.mu.Lock()
	snaps := a.snapshotsLocked()
	a.mu.Unlock()
	var out []statsTarget
	for _, s := range snaps {
		if s.deleting && len(s.cgroups) == 0 {
			continue
		}
		ref := api.PodReference{Name: s.pod.Name, Namespace: s.pod.Namespace, UID: string(s.pod.UID)}
		for name, path := range s.cgroups {
			out = append(out, statsTarget{ref: ref, container: name, cgroupPath: path})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.ref.Namespace != y.ref.Namespace {
			return x.ref.Namespace < y.ref.Namespace
		}
		if x.ref.Name != y.ref.Name {
			return x.ref.Name < y.ref.Name
		}
		return x.container < y.container
	})
	return out
}

// readCPU reads the CPU time of each path now; unreadable ones are left out.
func (a *Agent) readCPU(paths []string) map[string]cgroups.CPUSample {
	out := make(map[string]cgroups.CPUSample, len(paths))
	for _, p := range paths {
		if u, err := a.opts.Cgroups.CPUUsage(p); err == nil {
			out[p] = cgroups.CPUSample{At: a.clock.Now(), Usage: u}
		}
	}
	return out
}

func statsPaths(targets []statsTarget) []string {
	paths := []string{rootCgroup}
	for _, t := range targets {
		paths = append(paths, t.cgroupPath)
	}
	return paths
}

// runStatsSampler reads every running container's CPU time each
// statsPeriod until ctx ends.
func (a *Agent) runStatsSampler(ctx context.Context) {
	if a.opts.Cgroups == nil {
		return
	}
	t := a.clock.NewTicker(statsPeriod)
	defer t.Stop()
	for {
		paths := statsPaths(a.statsTargets())
		keep := make(map[string]bool, len(paths))
		for p, smp := range a.readCPU(paths) {
			a.cpu.add(p, smp)
			keep[p] = true
		}
		a.cpu.keepOnly(keep)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// Stats implements api.Backend.
func (a *Agent) Stats(ctx context.Context) (*api.Summary, error) {
	if a.opts.Cgroups == nil {
		return nil, apierrors.NewServiceUnavailable("resource use is read from the pods' cgroups, which this agent does not manage")
	}
	targets := a.statsTargets()
	paths := statsPaths(targets)
	cur := a.readCPU(paths)
	bases := map[string]cgroups.CPUSample{}
	missing := false
	for p, c := range cur {
		if b, ok := a.cpu.base(p, c); ok {
			bases[p] = b
		} else {
			missing = true
		}
	}
	if missing {
		// A second reading, statsMinWindow later, for the cgroups seen first now.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-a.clock.After(statsMinWindow):
		}
		first := cur
		cur = a.readCPU(paths)
		for p, f := range first {
			if _, ok := bases[p]; !ok {
				bases[p] = f
				a.cpu.add(p, f) // a later call within the window finds it
			}
		}
	}
	for p, c := range cur {
		a.cpu.add(p, c)
	}
	cpuOf := func(p string) *api.CPUStats {
		c, ok := cur[p]
		if !ok {
			return nil
		}
		b, ok := bases[p]
		if !ok {
			return nil
		}
		rate, ok := cgroups.CPURate(b, c)
		if !ok {
			return nil
		}
		return &api.CPUStats{Time: metav1.NewTime(c.At), Window: metav1.Duration{Duration: c.At.Sub(b.At)}, UsageNanoCores: rate, UsageCoreNanoSeconds: c.Usage}
	}
	memOf := func(p string) *api.MemoryStats {
		st, err := a.opts.Cgroups.MemoryStats(p)
		if err != nil {
			return nil
		}
		return &api.MemoryStats{Time: metav1.NewTime(a.clock.Now()), UsageBytes: uint64(st.Usage), WorkingSetBytes: uint64(st.WorkingSet)}
	}
	sum := &api.Summary{Node: api.NodeStats{NodeName: a.node.cfg.Name, CPU: cpuOf(rootCgroup), Memory: a.nodeMemory()}, Pods: []api.PodStats{}}
	for _, t := range targets {
		cpu, mem := cpuOf(t.cgroupPath), memOf(t.cgroupPath)
		if cpu == nil && mem == nil {
			continue // gone meanwhile
		}
		n := len(sum.Pods)
		if n == 0 || sum.Pods[n-1].PodRef != t.ref {
			sum.Pods = append(sum.Pods, api.PodStats{PodRef: t.ref})
			n++
		}
		sum.Pods[n-1].Containers = append(sum.Pods[n-1].Containers, api.ContainerStats{Name: t.container, CPU: cpu, Memory: mem})
	}
	return sum, nil
}

// nodeMemory is the node's working set: the root memory cgroup's on v1, as
// cAdvisor reads it, else from /proc/meminfo (v2 has no root memory.current).
func (a *Agent) nodeMemory() *api.MemoryStats {
	now := metav1.NewTime(a.clock.Now())
	if a.opts.Cgroups.Version() == 1 {
		if st, err := a.opts.Cgroups.MemoryStats(rootCgroup); err == nil {
			return &api.MemoryStats{Time: now, UsageBytes: uint64(st.Usage), WorkingSetBytes: uint64(st.WorkingSet)}
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	mi, err := eviction.ParseMeminfo(f)
	if err != nil {
		return nil
	}
	obs := eviction.NodeMemoryAvailable(mi)
	return &api.MemoryStats{Time: now, UsageBytes: uint64(mi.MemTotal - mi.MemFree), WorkingSetBytes: uint64(obs.Capacity - obs.Available)}
}
