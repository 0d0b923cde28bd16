package main

import (
	"fmt"
	goruntime "runtime"

	"github.com/prometheus/procfs"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/miniagent/miniagent/agent/eviction"
	"github.com/miniagent/miniagent/cgroups"
)

// resourceOpts are the cgroup and eviction settings parsed from flags.
type resourceOpts struct {
	cgroups     cgroups.Manager
	allocatable cgroups.NodeAllocatable
	eviction    *eviction.ManagerConfig
}

// resourceOptions turns the node allocatable and eviction flags into
// options; parse errors name the flag.
func resourceOptions(f daemonFlags) (resourceOpts, error) {
	var r resourceOpts
	kube, err := cgroups.ParseReserved("kube-reserved", f.kubeReserved)
	if err != nil {
		return r, err
	}
	sys, err := cgroups.ParseReserved("system-reserved", f.systemReserved)
	if err != nil {
		return r, err
	}
	enforce, err := cgroups.ParseEnforceNodeAllocatable(f.enforce)
	if err != nil {
		return r, err
	}
	thresholds, err := eviction.ParseThresholds(eviction.Config{
		Hard: f.evictionHard, Soft: f.evictionSoft, SoftGracePeriod: f.softGrace, MinimumReclaim: f.minReclaim,
	})
	if err != nil {
		return r, err
	}
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return r, err
	}
	mi, err := fs.Meminfo()
	if err != nil || mi.MemTotal == nil {
		return r, fmt.Errorf("read /proc/meminfo: %v", err)
	}
	memTotal := int64(*mi.MemTotal) * 1024
	capacity := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(memTotal, resource.BinarySI),
	}
	var hardMem int64
	for _, t := range thresholds {
		if t.Hard && t.Signal == eviction.SignalMemoryAvailable {
			hardMem = t.Value.Bytes(memTotal)
		}
	}
	r.allocatable = cgroups.NodeAllocatable{
		Capacity: capacity, KubeReserved: kube, SystemReserved: sys,
		HardEvictionMemory: hardMem, EnforcePods: enforce,
	}
	r.cgroups, err = cgroups.NewManager(f.cgroupRoot)
	if err != nil {
		return r, fmt.Errorf("cgroups: %w", err)
	}
	r.eviction = &eviction.ManagerConfig{
		Thresholds: thresholds, MonitoringPeriod: f.evictionPeriod, PressureTransitionPeriod: f.pressurePeriod,
	}
	return r, nil
}
