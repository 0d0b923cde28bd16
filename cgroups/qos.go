package cgroups

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// QOSClass computes the pod's QoS class the way Kubernetes does:
//
//   - only cpu and memory count, in init containers (sidecars included) and
//     regular containers alike; ephemeral containers and pod-level resources
//     are ignored;
//   - zero (or negative) quantities count as unset;
//   - a request that is absent while its limit is set takes the limit's value,
//     which is what API defaulting does before kubelet sees the pod (an
//     explicit "0" request stays zero);
//   - BestEffort when no container has any cpu/memory request or limit;
//     Guaranteed when every container has both a cpu and a memory limit and,
//     summed over the pod, requests equal limits for both; Burstable otherwise.
//
// pod.Status.QOSClass is not consulted: callers that must keep a class once
// assigned read it themselves.
func QOSClass(pod *v1.Pod) v1.PodQOSClass {
	requests := map[v1.ResourceName]resource.Quantity{}
	limits := map[v1.ResourceName]resource.Quantity{}
	guaranteed := true

	add := func(sum map[v1.ResourceName]resource.Quantity, name v1.ResourceName, q resource.Quantity) {
		total := sum[name]
		total.Add(q)
		sum[name] = total
	}
	visit := func(c *v1.Container) {
		limitsFound := 0
		for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			lim, hasLim := positive(c.Resources.Limits, name)
			if hasLim {
				limitsFound++
				add(limits, name, lim)
			}
			if req, set := c.Resources.Requests[name]; set {
				if req.Sign() > 0 {
					add(requests, name, req)
				}
			} else if hasLim {
				add(requests, name, lim) // defaulted from the limit
			}
		}
		if limitsFound < 2 {
			guaranteed = false
		}
	}
	for i := range pod.Spec.InitContainers {
		visit(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		visit(&pod.Spec.Containers[i])
	}

	if len(requests) == 0 && len(limits) == 0 {
		return v1.PodQOSBestEffort
	}
	if guaranteed && len(requests) == len(limits) {
		for name, req := range requests {
			lim, ok := limits[name]
			if !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
		if guaranteed {
			return v1.PodQOSGuaranteed
		}
	}
	return v1.PodQOSBurstable
}

// positive returns list[name] when it is set and greater than zero.
func positive(list v1.ResourceList, name v1.ResourceName) (resource.Quantity, bool) {
	q, ok := list[name]
	if !ok || q.Sign() <= 0 {
		return resource.Quantity{}, false
	}
	return q, true
}
