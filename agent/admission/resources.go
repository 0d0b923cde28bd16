package admission

import (
	"sort"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PodRequests returns what the pod asks of the node, computed as the
// scheduler and kubelet do with sidecars: app containers and restartable
// init containers (sidecars) run together and are summed; each ordinary init
// container runs alone next to the sidecars started before it; the pod needs
// the larger of the two, plus spec.overhead. Pod-level requests
// (spec.resources), when set, replace the container sum for cpu and memory.
func PodRequests(pod *v1.Pod) v1.ResourceList {
	var podLevel v1.ResourceList
	if pod.Spec.Resources != nil {
		podLevel = pod.Spec.Resources.Requests
	}
	return podResources(pod, podLevel, func(c *v1.Container) v1.ResourceList { return c.Resources.Requests })
}

// PodLimits returns the pod's limits computed the same way as PodRequests
// (kubectl's describe node uses the same formula).
func PodLimits(pod *v1.Pod) v1.ResourceList {
	var podLevel v1.ResourceList
	if pod.Spec.Resources != nil {
		podLevel = pod.Spec.Resources.Limits
	}
	return podResources(pod, podLevel, func(c *v1.Container) v1.ResourceList { return c.Resources.Limits })
}

func podResources(pod *v1.Pod, podLevel v1.ResourceList, of func(*v1.Container) v1.ResourceList) v1.ResourceList {
	sum := v1.ResourceList{}
	for i := range pod.Spec.Containers {
		addList(sum, of(&pod.Spec.Containers[i]))
	}
	sidecars := v1.ResourceList{}
	initPeak := v1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if isSidecar(c) {
			addList(sum, of(c))
			addList(sidecars, of(c))
			maxList(initPeak, sidecars)
			continue
		}
		phase := v1.ResourceList{}
		addList(phase, of(c))
		addList(phase, sidecars)
		maxList(initPeak, phase)
	}
	maxList(sum, initPeak)
	for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
		if q, ok := podLevel[name]; ok {
			sum[name] = q.DeepCopy()
		}
	}
	addList(sum, pod.Spec.Overhead)
	return sum
}

func isSidecar(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

func addList(dst, src v1.ResourceList) {
	for name, q := range src {
		cur := dst[name]
		cur.Add(q)
		dst[name] = cur
	}
}

func maxList(dst, src v1.ResourceList) {
	for name, q := range src {
		if cur, ok := dst[name]; !ok || q.Cmp(cur) > 0 {
			dst[name] = q.DeepCopy()
		}
	}
}

// amount is a quantity in the unit kubelet reports: millicores for cpu,
// plain units (bytes) for everything else.
func amount(name v1.ResourceName, q resource.Quantity) int64 {
	if name == v1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

// insufficient is one resource the node lacks for the pod.
type insufficient struct {
	name                      v1.ResourceName
	requested, used, capacity int64
}

// fitResources is the scheduler's noderesources fit as kubelet uses it: the
// pod count first, then cpu, memory, ephemeral-storage and the other
// resources (sorted by name), each compared with allocatable minus what the
// existing pods request. It returns the first resource that does not fit.
//
// A resource the node does not list in allocatable is not checked (kubelet
// drops requests for unknown extended resources the same way; the agent's
// node always lists pods, cpu and memory).
func fitResources(pod *v1.Pod, node *v1.Node, existing []*v1.Pod) *insufficient {
	alloc := node.Status.Allocatable
	if q, ok := alloc[v1.ResourcePods]; ok {
		if n := int64(len(existing)); n+1 > q.Value() {
			return &insufficient{name: v1.ResourcePods, requested: 1, used: n, capacity: q.Value()}
		}
	}
	req := PodRequests(pod)
	used := v1.ResourceList{}
	for _, p := range existing {
		addList(used, PodRequests(p))
	}
	names := make([]v1.ResourceName, 0, len(req))
	for name := range req {
		if name == v1.ResourcePods {
			continue
		}
		names = append(names, name)
	}
	rank := map[v1.ResourceName]int{v1.ResourceCPU: 0, v1.ResourceMemory: 1, v1.ResourceEphemeralStorage: 2}
	sort.Slice(names, func(i, j int) bool {
		ri, oki := rank[names[i]]
		rj, okj := rank[names[j]]
		switch {
		case oki && okj:
			return ri < rj
		case oki != okj:
			return oki
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		capQ, ok := alloc[name]
		if !ok {
			continue
		}
		r := amount(name, req[name])
		if r <= 0 {
			continue
		}
		u := amount(name, used[name])
		c := amount(name, capQ)
		if r > c-u {
			return &insufficient{name: name, requested: r, used: u, capacity: c}
		}
	}
	return nil
}
