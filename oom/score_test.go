package oom

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const standardMemory = 8000000000

func rl(pairs ...string) v1.ResourceList {
	out := v1.ResourceList{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out[v1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func ctr(name string, req, lim v1.ResourceList) v1.Container {
	return v1.Container{Name: name, Resources: v1.ResourceRequirements{Requests: req, Limits: lim}}
}

func podOf(c ...v1.Container) *v1.Pod { return &v1.Pod{Spec: v1.PodSpec{Containers: c}} }

func i32(v int32) *int32 { return &v }

// The QoS class of each case is the one kubelet computes for its pod (the
// cgroups package computes it in the agent; fixed here to keep oom
// independent of it).
func TestPolicyScore(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	sidecar := func(name string, req v1.ResourceList) v1.Container {
		c := ctr(name, req, nil)
		c.RestartPolicy = &always
		return c
	}
	G, B, BE := v1.PodQOSGuaranteed, v1.PodQOSBurstable, v1.PodQOSBestEffort
	tests := []struct {
		name     string
		pod      *v1.Pod
		init     bool // score the first init container instead of the first container
		qos      v1.PodQOSClass
		capacity int64
		lo, hi   int
	}{
		// The cases of kubelet's own policy test.
		{"cpu limit only", podOf(ctr("c", nil, rl("cpu", "10"))), false, B, 4000000000, 999, 999},
		{"memory limit, zero cpu request", podOf(ctr("c", rl("cpu", "0"), rl("memory", "10G"))), false, B, 8000000000, 999, 999},
		{"zero memory limit", podOf(ctr("c", nil, rl("memory", "0"))), false, BE, 7230457451, 1000, 1000},
		{"no request no limit", podOf(ctr("c", nil, nil)), false, BE, 4000000000, 1000, 1000},
		{"equal request and limit", podOf(ctr("c", rl("memory", "10G", "cpu", "5m"), rl("memory", "10G", "cpu", "5m"))), false, G, 123456789, -997, -997},
		{"request half of memory", podOf(ctr("c", rl("memory", "4000000000", "cpu", "5m"), rl("memory", "10G"))), false, B, standardMemory, 495, 505},
		{"request all but one byte", podOf(ctr("c", rl("memory", "7999999999", "cpu", "5m"), nil)), false, B, standardMemory, 3, 3},

		// Exact values of the formula.
		{"request 10%", podOf(ctr("c", rl("memory", "800M"), nil)), false, B, standardMemory, 900, 900},
		{"request more than the machine", podOf(ctr("c", rl("memory", "16G"), nil)), false, B, standardMemory, 3, 3},
		{"tiny request rounds to 1000 then 999", podOf(ctr("c", rl("memory", "1"), nil)), false, B, standardMemory, 999, 999},
		{"unknown capacity", podOf(ctr("c", rl("memory", "1G"), nil)), false, B, 0, 999, 999},

		// Sidecars never score above the app container with the smallest request.
		{"sidecar capped at the app", &v1.Pod{Spec: v1.PodSpec{
			InitContainers: []v1.Container{sidecar("s", rl("memory", "800M"))},
			Containers:     []v1.Container{ctr("a", rl("memory", "4G"), nil), ctr("b", rl("memory", "2G"), nil)},
		}}, true, B, standardMemory, 750, 750},
		{"sidecar with more memory keeps its own", &v1.Pod{Spec: v1.PodSpec{
			InitContainers: []v1.Container{sidecar("s", rl("memory", "4G"))},
			Containers:     []v1.Container{ctr("a", rl("memory", "800M"), nil)},
		}}, true, B, standardMemory, 500, 500},
		{"sidecar against an app without request", &v1.Pod{Spec: v1.PodSpec{
			InitContainers: []v1.Container{sidecar("s", rl("memory", "800M"))},
			Containers:     []v1.Container{ctr("a", nil, rl("cpu", "1"))},
		}}, true, B, standardMemory, 900, 900},
		{"plain init container is not capped", &v1.Pod{Spec: v1.PodSpec{
			InitContainers: []v1.Container{ctr("i", rl("memory", "800M"), nil)},
			Containers:     []v1.Container{ctr("a", rl("memory", "4G"), nil)},
		}}, true, B, standardMemory, 900, 900},

		// Node-critical pods.
		{"system-node-critical without priority (admission value)", &v1.Pod{Spec: v1.PodSpec{
			PriorityClassName: SystemNodeCritical, Containers: []v1.Container{ctr("c", nil, nil)}}}, false, BE, 4000000000, -997, -997},
		{"system-node-critical with critical priority", &v1.Pod{Spec: v1.PodSpec{
			PriorityClassName: SystemNodeCritical, Priority: i32(SystemCriticalPriority), Containers: []v1.Container{ctr("c", rl("memory", "1G"), nil)}}}, false, B, 4000000000, -997, -997},
		{"system-node-critical name but low priority", &v1.Pod{Spec: v1.PodSpec{
			PriorityClassName: SystemNodeCritical, Priority: i32(1000), Containers: []v1.Container{ctr("c", nil, nil)}}}, false, BE, 4000000000, 1000, 1000},
		{"static system-node-critical pod with low priority", &v1.Pod{
			ObjectMeta: metaWith(configSourceAnnotation, "file"),
			Spec:       v1.PodSpec{PriorityClassName: SystemNodeCritical, Priority: i32(0), Containers: []v1.Container{ctr("c", nil, nil)}}}, false, BE, 4000000000, -997, -997},
		{"critical priority without the class name", &v1.Pod{Spec: v1.PodSpec{
			Priority: i32(SystemCriticalPriority + 1000), Containers: []v1.Container{ctr("c", nil, nil)}}}, false, BE, 4000000000, 1000, 1000},
		{"system-cluster-critical is not node critical", &v1.Pod{Spec: v1.PodSpec{
			PriorityClassName: SystemClusterCritical, Containers: []v1.Container{ctr("c", nil, nil)}}}, false, BE, 4000000000, 1000, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &tc.pod.Spec.Containers[0]
			if tc.init {
				c = &tc.pod.Spec.InitContainers[0]
			}
			got := PolicyScore(tc.pod, c, tc.qos, tc.capacity)
			if got < tc.lo || got > tc.hi {
				t.Errorf("PolicyScore = %d, want in [%d, %d]", got, tc.lo, tc.hi)
			}
		})
	}
}

func metaWith(k, v string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Annotations: map[string]string{k: v}}
}

func TestClamp(t *testing.T) {
	tests := []struct{ score, floor, want int }{
		{-997, -1000, -997},
		{-997, 0, 0},
		{3, 0, 3},
		{1000, 0, 1000},
		{500, 600, 600},
	}
	for _, tc := range tests {
		if got := Clamp(tc.score, tc.floor); got != tc.want {
			t.Errorf("Clamp(%d, %d) = %d, want %d", tc.score, tc.floor, got, tc.want)
		}
	}
}

func TestFloorMatchesCapability(t *testing.T) {
	floor, restricted := Floor()
	if restricted != !hasCapSysResource() {
		t.Fatalf("restricted = %v with CAP_SYS_RESOURCE = %v", restricted, hasCapSysResource())
	}
	if !restricted && floor != -1000 {
		t.Fatalf("floor = %d without restriction, want -1000", floor)
	}
	if restricted {
		own := readOwnScore(t)
		if floor != own {
			t.Fatalf("floor = %d, own oom_score_adj = %d", floor, own)
		}
	}
}
