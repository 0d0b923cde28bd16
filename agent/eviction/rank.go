package eviction

import (
	"fmt"
	"sort"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/miniagent/miniagent/cgroups"
	"github.com/miniagent/miniagent/oom"
)

// Reason is the pod status reason of an evicted pod.
const Reason = "Evicted"

// ContainerUsage is one running container's memory working set.
type ContainerUsage struct {
	Name       string
	WorkingSet int64
}

// PodStats is an active pod with its memory use, as the agent reports it.
type PodStats struct {
	Pod        *v1.Pod
	QOS        v1.PodQOSClass
	WorkingSet int64 // of the pod (sum of its containers, or its pod cgroup)
	Containers []ContainerUsage
}

// podRequest is the pod's effective memory request.
func podRequest(p PodStats) int64 { return cgroups.PodMemoryRequest(p.Pod) }

// Rank orders pods for memory eviction as kubelet's rankMemoryPressure:
// first pods whose working set exceeds their memory request, then lower
// priority first, then the larger working set above request first. The
// order is stable for equal pods.
func Rank(pods []PodStats) []PodStats {
	out := append([]PodStats(nil), pods...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		ra, rb := podRequest(a), podRequest(b)
		exA, exB := a.WorkingSet > ra, b.WorkingSet > rb
		if exA != exB {
			return exA
		}
		pa, pb := oom.Priority(a.Pod), oom.Priority(b.Pod)
		if pa != pb {
			return pa < pb
		}
		return a.WorkingSet-ra > b.WorkingSet-rb
	})
	return out
}

// IsCritical is kubelet's IsCriticalPod, which eviction never touches:
// static and mirror pods and pods with priority >= system critical.
func IsCritical(pod *v1.Pod) bool {
	if src, ok := pod.Annotations["kubernetes.io/config.source"]; ok && src != "api" {
		return true
	}
	if _, ok := pod.Annotations["kubernetes.io/config.mirror"]; ok {
		return true
	}
	return oom.Priority(pod) >= oom.SystemCriticalPriority
}

// Message is kubelet's eviction message for pod under memory pressure from
// threshold t observed as obs, e.g. "The node was low on resource: memory.
// Threshold quantity: 100Mi, available: 51200Ki. Container x was using
// 200Mi, request is 0, has larger consumption of memory. " (the trailing
// space is kubelet's).
func Message(t *Threshold, obs *SignalObservation, p PodStats) string {
	msg := fmt.Sprintf("The node was low on resource: %v. ", v1.ResourceMemory)
	if t != nil && obs != nil {
		quantity := t.Value.Quantity
		if quantity == nil {
			quantity = resource.NewQuantity(t.Value.Bytes(obs.Capacity), resource.BinarySI)
		}
		available := resource.NewQuantity(obs.Available, resource.BinarySI)
		msg += fmt.Sprintf("Threshold quantity: %v, available: %v. ", quantity, available)
	}
	usage := map[string]int64{}
	for _, c := range p.Containers {
		usage[c.Name] = c.WorkingSet
	}
	for i := range p.Pod.Spec.Containers {
		c := &p.Pod.Spec.Containers[i]
		ws, ok := usage[c.Name]
		if !ok {
			continue
		}
		req := c.Resources.Requests[v1.ResourceMemory]
		u := resource.NewQuantity(ws, resource.BinarySI)
		if u.Cmp(req) > 0 {
			msg += fmt.Sprintf("Container %s was using %s, request is %s, has larger consumption of %v. ",
				c.Name, u.String(), req.String(), v1.ResourceMemory)
		}
	}
	return msg
}
