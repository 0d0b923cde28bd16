package cgroups

import "strconv"

// File is one value written into a cgroup: Controller is the cgroup v1
// hierarchy it lives in ("cpu", "memory"; empty on v2), Name the file.
type File struct {
	Controller string
	Name       string
	Value      string
}

// V1Files are the cgroup v1 files that apply v. Unset limits are written as
// -1 so that a value set earlier is lifted; the CFS period goes before the
// quota.
func V1Files(v Values) []File {
	quota, period := "-1", strconv.Itoa(QuotaPeriod)
	if v.CPUQuota > 0 {
		quota = strconv.FormatInt(v.CPUQuota, 10)
		if v.CPUPeriod > 0 {
			period = strconv.FormatUint(v.CPUPeriod, 10)
		}
	}
	mem := "-1"
	if v.MemoryLimit > 0 {
		mem = strconv.FormatInt(v.MemoryLimit, 10)
	}
	shares := v.CPUShares
	if shares == 0 {
		shares = MinShares
	}
	return []File{
		{"cpu", "cpu.shares", strconv.FormatUint(shares, 10)},
		{"cpu", "cpu.cfs_period_us", period},
		{"cpu", "cpu.cfs_quota_us", quota},
		{"memory", "memory.limit_in_bytes", mem},
	}
}

// V2Files are the cgroup v2 files that apply v: cpu.weight converted from
// the shares, cpu.max "quota period" (or "max period"), memory.max.
func V2Files(v Values) []File {
	shares := v.CPUShares
	if shares == 0 {
		shares = MinShares
	}
	period := uint64(QuotaPeriod)
	if v.CPUPeriod > 0 {
		period = v.CPUPeriod
	}
	quota := "max"
	if v.CPUQuota > 0 {
		quota = strconv.FormatInt(v.CPUQuota, 10)
	}
	mem := "max"
	if v.MemoryLimit > 0 {
		mem = strconv.FormatInt(v.MemoryLimit, 10)
	}
	return []File{
		{"", "cpu.weight", strconv.FormatUint(SharesToWeight(shares), 10)},
		{"", "cpu.max", quota + " " + strconv.FormatUint(period, 10)},
		{"", "memory.max", mem},
	}
}

// V2ContainerFiles are the extra files kubelet has set on a container's
// cgroup on v2: memory.oom.group=1, so an OOM kill takes the whole
// container (kubelet's singleProcessOOMKill defaults to false on v2). On v1
// there is no such file and the kernel kills a single process.
func V2ContainerFiles() []File {
	return []File{{"", "memory.oom.group", "1"}}
}
