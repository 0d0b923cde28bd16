package cgroups

import (
	"path"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Kubelet's CPU conversions.
const (
	// MinShares is the cpu.shares of a cgroup without cpu request.
	MinShares = 2
	// MaxShares is the largest cpu.shares the kernel takes.
	MaxShares     = 262144
	sharesPerCPU  = 1024
	milliCPUToCPU = 1000
	// QuotaPeriod is the CFS period kubelet uses, in microseconds (100 ms).
	QuotaPeriod = 100000
	minQuota    = 1000
)

// SharesFromMilliCPU turns a cpu request into cgroup v1 shares, within
// [MinShares, MaxShares].
func SharesFromMilliCPU(milli int64) uint64 {
	if milli <= 0 {
		return MinShares
	}
	s := milli * sharesPerCPU / milliCPUToCPU
	switch {
	case s < MinShares:
		return MinShares
	case s > MaxShares:
		return MaxShares
	}
	return uint64(s)
}

// QuotaFromMilliCPU turns a cpu limit into a CFS quota for QuotaPeriod (0 = none).
func QuotaFromMilliCPU(milli int64) int64 {
	if milli <= 0 {
		return 0
	}
	q := milli * QuotaPeriod / milliCPUToCPU
	if q < minQuota {
		q = minQuota
	}
	return q
}

// SharesToWeight converts cgroup v1 cpu.shares to cgroup v2 cpu.weight the
// way runc and kubelet do: [2, 262144] maps linearly onto [1, 10000].
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < MinShares {
		shares = MinShares
	}
	if shares > MaxShares {
		shares = MaxShares
	}
	return 1 + ((shares-2)*9999)/262142
}

// Values are the resource values of one cgroup (container, pod, QoS or the
// top-level pods cgroup). Zero means "unset": no limit, no quota.
type Values struct {
	MemoryLimit int64 // bytes, 0 = none
	CPUShares   uint64
	CPUQuota    int64 // microseconds per CPUPeriod, 0 = none
	CPUPeriod   uint64
}

// ContainerValues are the cgroup values of one container.
type ContainerValues = Values

// ForContainer computes a container's cgroup values as kubelet does:
// shares from the cpu request (an absent request takes the limit, as API
// defaulting does; neither means MinShares), quota from the cpu limit,
// memory limit from the memory limit.
func ForContainer(c *v1.Container) Values {
	var v Values
	req := request(c, v1.ResourceCPU)
	v.CPUShares = SharesFromMilliCPU(req.MilliValue())
	if q := QuotaFromMilliCPU(c.Resources.Limits.Cpu().MilliValue()); q > 0 {
		v.CPUQuota = q
		v.CPUPeriod = QuotaPeriod
	}
	v.MemoryLimit = c.Resources.Limits.Memory().Value()
	return v
}

// request is the container's request for name, defaulted from its limit
// when absent.
func request(c *v1.Container, name v1.ResourceName) resource.Quantity {
	if q, ok := c.Resources.Requests[name]; ok {
		return q
	}
	return c.Resources.Limits[name]
}

// limit is the container's limit for name (zero when absent).
func limit(c *v1.Container, name v1.ResourceName) resource.Quantity {
	return c.Resources.Limits[name]
}

// podTotal is kubelet's effective pod total of a per-container quantity:
// the sum over regular containers and sidecars, or, if larger, the largest
// of each regular init container's own value plus the sidecars started
// before it.
func podTotal(pod *v1.Pod, get func(*v1.Container, v1.ResourceName) resource.Quantity, name v1.ResourceName) resource.Quantity {
	var sum, sidecars, initMax resource.Quantity
	for i := range pod.Spec.Containers {
		sum.Add(get(&pod.Spec.Containers[i], name))
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		q := get(c, name)
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			sum.Add(q)
			sidecars.Add(q)
			continue
		}
		q.Add(sidecars)
		if q.Cmp(initMax) > 0 {
			initMax = q
		}
	}
	if initMax.Cmp(sum) > 0 {
		return initMax
	}
	return sum
}

// PodValues computes the pod-level cgroup values as kubelet's
// ResourceConfigForPod: shares from the pod's total cpu request; for a
// Guaranteed pod quota and memory limit from its total limits; for a
// Burstable pod the quota only when every regular container has a cpu
// limit and the memory limit only when every regular container has a memory
// limit; a BestEffort pod gets MinShares and nothing else.
func PodValues(pod *v1.Pod) Values {
	qos := QOSClass(pod)
	if qos == v1.PodQOSBestEffort {
		return Values{CPUShares: MinShares}
	}
	reqCPU := podTotal(pod, request, v1.ResourceCPU)
	limCPU := podTotal(pod, limit, v1.ResourceCPU)
	limMem := podTotal(pod, limit, v1.ResourceMemory)
	v := Values{CPUShares: SharesFromMilliCPU(reqCPU.MilliValue())}
	cpuDeclared, memDeclared := true, true
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Resources.Limits.Cpu().IsZero() {
			cpuDeclared = false
		}
		if c.Resources.Limits.Memory().IsZero() {
			memDeclared = false
		}
	}
	if qos == v1.PodQOSGuaranteed || cpuDeclared {
		if q := QuotaFromMilliCPU(limCPU.MilliValue()); q > 0 {
			v.CPUQuota, v.CPUPeriod = q, QuotaPeriod
		}
	}
	if qos == v1.PodQOSGuaranteed || memDeclared {
		v.MemoryLimit = limMem.Value()
	}
	return v
}

// PodCPURequestMilli is the pod's effective total cpu request in millicores
// (what the burstable QoS cgroup's shares are summed from).
func PodCPURequestMilli(pod *v1.Pod) int64 {
	q := podTotal(pod, request, v1.ResourceCPU)
	return q.MilliValue()
}

// PodMemoryRequest is the pod's effective total memory request in bytes.
func PodMemoryRequest(pod *v1.Pod) int64 {
	q := podTotal(pod, request, v1.ResourceMemory)
	return q.Value()
}

// BurstableValues are the values of the burstable QoS cgroup: shares from the
// sum of the cpu requests of the Burstable pods among pods.
func BurstableValues(pods []*v1.Pod) Values {
	var milli int64
	for _, p := range pods {
		if QOSClass(p) == v1.PodQOSBurstable {
			milli += PodCPURequestMilli(p)
		}
	}
	return Values{CPUShares: SharesFromMilliCPU(milli)}
}

// BestEffortValues are the values of the besteffort QoS cgroup.
func BestEffortValues() Values { return Values{CPUShares: MinShares} }

// PodPath is the pod-level cgroup of a pod under the top-level pods cgroup
// root, like kubelet's cgroupfs driver: Guaranteed pods directly under the
// root, the others under burstable/ or besteffort/.
func PodPath(root string, qos v1.PodQOSClass, uid string) string {
	return path.Join(QOSPath(root, qos), "pod"+uid)
}

// QOSPath is the QoS-level cgroup of qos under root: the root itself for
// Guaranteed, root/burstable or root/besteffort otherwise.
func QOSPath(root string, qos v1.PodQOSClass) string {
	base := path.Join("/", root)
	switch qos {
	case v1.PodQOSBurstable:
		base = path.Join(base, "burstable")
	case v1.PodQOSBestEffort:
		base = path.Join(base, "besteffort")
	}
	return base
}
