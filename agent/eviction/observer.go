package eviction

import (
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/cgroups"
)

// NewHostObserver observes this host: memory.available from /proc/meminfo
// (capacity MemTotal; on cgroup v1 the working set is the root memory
// cgroup's usage minus total_inactive_file, as kubelet's cAdvisor reads it,
// else MemTotal - MemFree - Inactive(file)), allocatableMemory.available as
// capacity - reserved minus the working set of the top-level pods cgroup,
// and PSI where present.
func NewHostObserver(cg cgroups.Manager, alloc cgroups.NodeAllocatable) func() (Observation, error) {
	return func() (Observation, error) {
		f, err := os.Open("/proc/meminfo")
		if err != nil {
			return Observation{}, err
		}
		mi, err := ParseMeminfo(f)
		f.Close()
		if err != nil {
			return Observation{}, err
		}
		node := NodeMemoryAvailable(mi)
		if cg.Version() == 1 {
			if st, err := cg.MemoryStats("/"); err == nil {
				node.Available = mi.MemTotal - st.WorkingSet
			}
		}
		obs := Observation{Signals: map[Signal]SignalObservation{SignalMemoryAvailable: node}, PSI: readPSI()}
		pods, err := cg.MemoryStats(cg.TopPath())
		if err != nil {
			return obs, fmt.Errorf("pods cgroup: %w", err)
		}
		capacity := alloc.Capacity[v1.ResourceMemory]
		allocatable := capacity.Value()
		for _, r := range []v1.ResourceList{alloc.KubeReserved, alloc.SystemReserved} {
			if q, ok := r[v1.ResourceMemory]; ok {
				allocatable -= q.Value()
			}
		}
		obs.Signals[SignalAllocatableMemoryAvailable] = SignalObservation{Capacity: allocatable, Available: allocatable - pods.WorkingSet}
		return obs, nil
	}
}

// PodStatsFrom builds a pod's PodStats from its containers' cgroups
// (container name -> cgroup path of its running instance), reading them
// with read (a cgroups.Manager's MemoryStats). Unreadable containers count
// as zero.
func PodStatsFrom(pod *v1.Pod, containers map[string]string, read func(path string) (cgroups.MemoryStats, error)) PodStats {
	p := PodStats{Pod: pod, QOS: cgroups.QOSClass(pod)}
	for _, name := range containerNames(pod) {
		path, ok := containers[name]
		if !ok {
			continue
		}
		st, err := read(path)
		if err != nil {
			continue
		}
		p.Containers = append(p.Containers, ContainerUsage{Name: name, WorkingSet: st.WorkingSet})
		p.WorkingSet += st.WorkingSet
	}
	return p
}

func containerNames(pod *v1.Pod) []string {
	var out []string
	for i := range pod.Spec.InitContainers {
		out = append(out, pod.Spec.InitContainers[i].Name)
	}
	for i := range pod.Spec.Containers {
		out = append(out, pod.Spec.Containers[i].Name)
	}
	return out
}
