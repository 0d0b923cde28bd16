package cgroups

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// EnforcePods is the --enforce-node-allocatable value that limits the
// top-level pods cgroup to the node's allocatable resources.
const EnforcePods = "pods"

// NodeAllocatable is the node's capacity and what is held back from pods,
// as kubelet's --kube-reserved, --system-reserved and
// --enforce-node-allocatable flags set it.
type NodeAllocatable struct {
	Capacity       v1.ResourceList // cpu and memory at least (memory = MemTotal)
	KubeReserved   v1.ResourceList
	SystemReserved v1.ResourceList
	// HardEvictionMemory is the memory.available hard eviction threshold in
	// bytes (kubelet subtracts it from the allocatable it reports, but not
	// from the pods cgroup's limit).
	HardEvictionMemory int64
	// EnforcePods limits the top-level pods cgroup to capacity - reserved.
	EnforcePods bool
}

// reserved is kube-reserved + system-reserved of name.
func (n NodeAllocatable) reserved(name v1.ResourceName) resource.Quantity {
	var q resource.Quantity
	if r, ok := n.KubeReserved[name]; ok {
		q.Add(r)
	}
	if r, ok := n.SystemReserved[name]; ok {
		q.Add(r)
	}
	return q
}

// absolute is capacity - reserved of name, never below zero.
func (n NodeAllocatable) absolute(name v1.ResourceName) resource.Quantity {
	q := n.Capacity[name].DeepCopy()
	q.Sub(n.reserved(name))
	if q.Sign() < 0 {
		return resource.Quantity{Format: q.Format}
	}
	return q
}

// Allocatable is what the node reports as status.allocatable: capacity minus
// kube-reserved and system-reserved, and for memory minus the hard eviction
// threshold too.
func (n NodeAllocatable) Allocatable() v1.ResourceList {
	out := v1.ResourceList{}
	for name := range n.Capacity {
		q := n.absolute(name)
		if name == v1.ResourceMemory && n.HardEvictionMemory > 0 {
			q.Sub(*resource.NewQuantity(n.HardEvictionMemory, resource.BinarySI))
			if q.Sign() < 0 {
				q = *resource.NewQuantity(0, resource.BinarySI)
			}
		}
		out[name] = q
	}
	return out
}

// TopValues are the values of the top-level pods cgroup, as kubelet's node
// allocatable enforcement sets them: cpu shares from the allocatable cpu
// (capacity - reserved) and, with EnforcePods, memory limit = capacity -
// reserved (not minus the eviction threshold). Without EnforcePods the
// cgroup gets the whole capacity: shares from capacity and no memory limit.
func (n NodeAllocatable) TopValues() Values {
	if !n.EnforcePods {
		cpu := n.Capacity[v1.ResourceCPU]
		return Values{CPUShares: SharesFromMilliCPU(cpu.MilliValue())}
	}
	cpu := n.absolute(v1.ResourceCPU)
	mem := n.absolute(v1.ResourceMemory)
	v := Values{CPUShares: SharesFromMilliCPU(cpu.MilliValue())}
	if _, ok := n.Capacity[v1.ResourceMemory]; ok {
		v.MemoryLimit = mem.Value()
		if v.MemoryLimit <= 0 {
			v.MemoryLimit = 1 // everything reserved: keep the limit, do not lift it
		}
	}
	return v
}

// reservableResources are the names --kube-reserved and --system-reserved take.
var reservableResources = map[v1.ResourceName]bool{
	v1.ResourceCPU: true, v1.ResourceMemory: true, v1.ResourceEphemeralStorage: true, "pid": true,
}

// ParseReserved parses a --kube-reserved / --system-reserved value such as
// "cpu=500m,memory=1Gi" (kubelet's syntax). Empty means nothing reserved.
func ParseReserved(flag, value string) (v1.ResourceList, error) {
	out := v1.ResourceList{}
	if strings.TrimSpace(value) == "" {
		return out, nil
	}
	for _, item := range strings.Split(value, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--%s: %q is not name=quantity", flag, item)
		}
		name := v1.ResourceName(k)
		if !reservableResources[name] {
			return nil, fmt.Errorf("--%s: unsupported resource %q (want one of cpu, memory, ephemeral-storage, pid)", flag, k)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--%s: %s given twice", flag, k)
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("--%s: %s=%q: %v", flag, k, v, err)
		}
		if q.Sign() < 0 {
			return nil, fmt.Errorf("--%s: %s=%s must not be negative", flag, k, v)
		}
		out[name] = q
	}
	return out, nil
}

// ParseEnforceNodeAllocatable parses --enforce-node-allocatable: a comma
// list of "pods", "system-reserved", "kube-reserved", or "none" alone
// (kubelet's default is "pods"). miniagent enforces only "pods"; the
// other two need cgroups (--system-reserved-cgroup, --kube-reserved-cgroup)
// that miniagent does not manage, and are refused. It returns whether pods
// are enforced.
func ParseEnforceNodeAllocatable(value string) (bool, error) {
	seen := map[string]bool{}
	for _, item := range strings.Split(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		switch item {
		case EnforcePods, "none":
		case "system-reserved", "kube-reserved":
			return false, fmt.Errorf("--enforce-node-allocatable: %q is not supported (miniagent does not manage the %s cgroup); use %q or \"none\"", item, item, EnforcePods)
		default:
			return false, fmt.Errorf("--enforce-node-allocatable: unknown option %q (want %q or \"none\")", item, EnforcePods)
		}
		seen[item] = true
	}
	if seen["none"] && len(seen) > 1 {
		keys := make([]string, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return false, fmt.Errorf("--enforce-node-allocatable: \"none\" cannot be combined with other options (got %s)", strings.Join(keys, ","))
	}
	return seen[EnforcePods], nil
}
