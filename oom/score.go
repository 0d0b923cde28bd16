// Package oom decides and applies the oom_score_adj of pod processes by QoS
// class, and tells OOM kills apart from other exits.
package oom

import (
	"bytes"
	"os"
	"strconv"

	v1 "k8s.io/api/core/v1"
	"golang.org/x/sys/unix"
)

// Kubelet's oom_score_adj policy values.
const (
	GuaranteedScore       = -997
	BestEffortScore       = 1000
	minBurstable          = 3 // so a Burstable process is never as protected as a Guaranteed one
	maxBurstable          = 999
	SystemCriticalPodName = "system-node-critical"
)

// PolicyScore returns kubelet's oom_score_adj for a container of a pod of
// class qos on a machine with memoryCapacity bytes.
func PolicyScore(pod *v1.Pod, c *v1.Container, qos v1.PodQOSClass, memoryCapacity int64) int {
	if pod.Spec.PriorityClassName == SystemCriticalPodName {
		return GuaranteedScore
	}
	switch qos {
	case v1.PodQOSGuaranteed:
		return GuaranteedScore
	case v1.PodQOSBestEffort:
		return BestEffortScore
	}
	if memoryCapacity <= 0 {
		return maxBurstable
	}
	req := c.Resources.Requests.Memory().Value()
	score := 1000 - (1000*req)/memoryCapacity
	if score < minBurstable {
		return minBurstable
	}
	if score > maxBurstable {
		return maxBurstable
	}
	return int(score)
}

// Floor is the lowest oom_score_adj this process may give its children:
// anything with CAP_SYS_RESOURCE in the bounding set may go to -1000, else a
// process can only keep or raise its own value. It returns the floor and
// whether values are being restricted.
func Floor() (int, bool) {
	if hasCapSysResource() {
		return -1000, false
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, true
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return 0, true
	}
	return v, true
}

// Clamp raises score to floor when it is lower.
func Clamp(score, floor int) int {
	if score < floor {
		return floor
	}
	return score
}

func hasCapSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	const bit = unix.CAP_SYS_RESOURCE
	eff := data[bit/32].Effective&(1<<(bit%32)) != 0
	if !eff {
		return false
	}
	// The bounding set decides what the shim and runc keep.
	b, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(bit), 0, 0, 0)
	return err == nil && b == 1
}
