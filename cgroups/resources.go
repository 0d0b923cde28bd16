package cgroups

import (
	"path"

	v1 "k8s.io/api/core/v1"
)

// Kubelet's CPU conversions.
const (
	minShares     = 2
	sharesPerCPU  = 1024
	milliCPUToCPU = 1000
	// QuotaPeriod is the CFS period kubelet uses, in microseconds (100 ms).
	QuotaPeriod = 100000
	minQuota    = 1000
)

// SharesFromMilliCPU turns a cpu request into cgroup v1 shares (min 2).
func SharesFromMilliCPU(milli int64) uint64 {
	if milli == 0 {
		return minShares
	}
	s := milli * sharesPerCPU / milliCPUToCPU
	if s < minShares {
		return minShares
	}
	return uint64(s)
}

// QuotaFromMilliCPU turns a cpu limit into a CFS quota for QuotaPeriod (0 = none).
func QuotaFromMilliCPU(milli int64) int64 {
	if milli == 0 {
		return 0
	}
	q := milli * QuotaPeriod / milliCPUToCPU
	if q < minQuota {
		q = minQuota
	}
	return q
}

// ContainerValues are the cgroup values of one container, from its resources.
type ContainerValues struct {
	MemoryLimit int64 // bytes, 0 = none
	CPUShares   uint64
	CPUQuota    int64 // 0 = none
	CPUPeriod   uint64
}

// ForContainer computes a container's cgroup values as kubelet does:
// shares from the cpu request, quota from the cpu limit, memory limit from
// the memory limit.
func ForContainer(c *v1.Container) ContainerValues {
	var v ContainerValues
	req := c.Resources.Requests.Cpu().MilliValue()
	if _, ok := c.Resources.Requests[v1.ResourceCPU]; !ok {
		// Kubelet: an unset request with a limit takes the limit (defaulting
		// already did that); unset both means minimal shares.
		req = c.Resources.Limits.Cpu().MilliValue()
	}
	v.CPUShares = SharesFromMilliCPU(req)
	if q := QuotaFromMilliCPU(c.Resources.Limits.Cpu().MilliValue()); q > 0 {
		v.CPUQuota = q
		v.CPUPeriod = QuotaPeriod
	}
	v.MemoryLimit = c.Resources.Limits.Memory().Value()
	return v
}

// PodPath is the pod-level cgroup of a pod under the top-level pods cgroup
// root, like kubelet's cgroupfs driver: Guaranteed pods directly under the
// root, the others under burstable/ or besteffort/.
func PodPath(root string, qos v1.PodQOSClass, uid string) string {
	base := "/" + root
	switch qos {
	case v1.PodQOSBurstable:
		base = path.Join(base, "burstable")
	case v1.PodQOSBestEffort:
		base = path.Join(base, "besteffort")
	}
	return path.Join(base, "pod"+uid)
}
