package cgroups

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestCPUConversions(t *testing.T) {
	shares := []struct {
		milli int64
		want  uint64
	}{{0, 2}, {1, 2}, {2, 2}, {100, 102}, {250, 256}, {1000, 1024}, {1500, 1536}, {300000, MaxShares}}
	for _, tc := range shares {
		if got := SharesFromMilliCPU(tc.milli); got != tc.want {
			t.Errorf("SharesFromMilliCPU(%d) = %d, want %d", tc.milli, got, tc.want)
		}
	}
	quotas := []struct{ milli, want int64 }{{0, 0}, {1, 1000}, {5, 1000}, {10, 1000}, {200, 20000}, {500, 50000}, {1000, 100000}, {2500, 250000}}
	for _, tc := range quotas {
		if got := QuotaFromMilliCPU(tc.milli); got != tc.want {
			t.Errorf("QuotaFromMilliCPU(%d) = %d, want %d", tc.milli, got, tc.want)
		}
	}
	weights := []struct{ shares, want uint64 }{{0, 0}, {1, 1}, {2, 1}, {102, 4}, {1024, 39}, {262144, 10000}, {500000, 10000}}
	for _, tc := range weights {
		if got := SharesToWeight(tc.shares); got != tc.want {
			t.Errorf("SharesToWeight(%d) = %d, want %d", tc.shares, got, tc.want)
		}
	}
}

func TestForContainer(t *testing.T) {
	tests := []struct {
		name string
		c    v1.Container
		want Values
	}{
		{"nothing", v1.Container{}, Values{CPUShares: 2}},
		{"requests only", v1.Container{Resources: v1.ResourceRequirements{Requests: rl("250m", "64Mi")}}, Values{CPUShares: 256}},
		{"limits only: request defaults to limit", v1.Container{Resources: v1.ResourceRequirements{Limits: rl("500m", "128Mi")}},
			Values{CPUShares: 512, CPUQuota: 50000, CPUPeriod: QuotaPeriod, MemoryLimit: 128 << 20}},
		{"explicit zero cpu request", v1.Container{Resources: v1.ResourceRequirements{Requests: rl("0", ""), Limits: rl("1", "")}},
			Values{CPUShares: 2, CPUQuota: 100000, CPUPeriod: QuotaPeriod}},
		{"tiny limit", v1.Container{Resources: v1.ResourceRequirements{Limits: rl("1m", "")}},
			Values{CPUShares: 2, CPUQuota: 1000, CPUPeriod: QuotaPeriod}},
	}
	for _, tc := range tests {
		if got := ForContainer(&tc.c); got != tc.want {
			t.Errorf("%s: ForContainer = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func withRestart(c v1.Container) v1.Container {
	always := v1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

func ctr(req, lim v1.ResourceList) v1.Container {
	return v1.Container{Name: "c", Resources: v1.ResourceRequirements{Requests: req, Limits: lim}}
}

func TestPodValues(t *testing.T) {
	mi := int64(1 << 20)
	tests := []struct {
		name string
		pod  *v1.Pod
		want Values
	}{
		{"besteffort", &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{ctr(nil, nil), ctr(nil, nil)}}}, Values{CPUShares: 2}},
		{"guaranteed two containers", &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(nil, rl("500m", "64Mi")), ctr(nil, rl("250m", "32Mi"))}}},
			Values{CPUShares: 768, CPUQuota: 75000, CPUPeriod: QuotaPeriod, MemoryLimit: 96 * mi}},
		{"burstable all limits declared", &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(rl("100m", "32Mi"), rl("1", "64Mi")), ctr(rl("100m", ""), rl("1", "64Mi"))}}},
			Values{CPUShares: 204, CPUQuota: 200000, CPUPeriod: QuotaPeriod, MemoryLimit: 128 * mi}},
		{"burstable one container without limits", &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(rl("100m", "32Mi"), rl("1", "64Mi")), ctr(rl("200m", ""), nil)}}},
			Values{CPUShares: 307}},
		{"burstable memory limits only", &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(nil, rl("", "64Mi")), ctr(rl("", "10Mi"), rl("", "16Mi"))}}},
			Values{CPUShares: 2, MemoryLimit: 80 * mi}},
		{"init container larger than the app", &v1.Pod{Spec: v1.PodSpec{
			InitContainers: []v1.Container{ctr(nil, rl("2", "512Mi"))},
			Containers:     []v1.Container{ctr(nil, rl("500m", "64Mi"))}}},
			Values{CPUShares: 2048, CPUQuota: 200000, CPUPeriod: QuotaPeriod, MemoryLimit: 512 * mi}},
		{"sidecar adds to the app and to later init containers", &v1.Pod{Spec: v1.PodSpec{
			InitContainers: []v1.Container{withRestart(ctr(nil, rl("100m", "16Mi"))), ctr(nil, rl("200m", "100Mi"))},
			Containers:     []v1.Container{ctr(nil, rl("500m", "64Mi"))}}},
			Values{CPUShares: 614, CPUQuota: 60000, CPUPeriod: QuotaPeriod, MemoryLimit: 116 * mi}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PodValues(tc.pod); got != tc.want {
				t.Errorf("PodValues = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestBurstableValues(t *testing.T) {
	burst := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{ctr(rl("300m", ""), nil)}}}
	burst2 := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{ctr(rl("", "1Gi"), nil), ctr(rl("200m", ""), rl("1", ""))}}}
	guar := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{ctr(nil, rl("2", "1Gi"))}}}
	be := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{ctr(nil, nil)}}}
	tests := []struct {
		pods []*v1.Pod
		want uint64
	}{
		{nil, 2},
		{[]*v1.Pod{be, guar}, 2},
		{[]*v1.Pod{burst}, 307},
		{[]*v1.Pod{burst, burst2, guar, be}, 512},
	}
	for i, tc := range tests {
		if got := BurstableValues(tc.pods).CPUShares; got != tc.want {
			t.Errorf("case %d: shares = %d, want %d", i, got, tc.want)
		}
	}
}

func TestFiles(t *testing.T) {
	full := Values{CPUShares: 512, CPUQuota: 50000, CPUPeriod: QuotaPeriod, MemoryLimit: 64 << 20}
	tests := []struct {
		name   string
		v      Values
		v1, v2 []File
	}{
		{"full", full,
			[]File{{"cpu", "cpu.shares", "512"}, {"cpu", "cpu.cfs_period_us", "100000"}, {"cpu", "cpu.cfs_quota_us", "50000"}, {"memory", "memory.limit_in_bytes", "67108864"}},
			[]File{{"", "cpu.weight", "20"}, {"", "cpu.max", "50000 100000"}, {"", "memory.max", "67108864"}}},
		{"unset", Values{},
			[]File{{"cpu", "cpu.shares", "2"}, {"cpu", "cpu.cfs_period_us", "100000"}, {"cpu", "cpu.cfs_quota_us", "-1"}, {"memory", "memory.limit_in_bytes", "-1"}},
			[]File{{"", "cpu.weight", "1"}, {"", "cpu.max", "max 100000"}, {"", "memory.max", "max"}}},
	}
	for _, tc := range tests {
		if got := V1Files(tc.v); !reflect.DeepEqual(got, tc.v1) {
			t.Errorf("%s: V1Files = %v, want %v", tc.name, got, tc.v1)
		}
		if got := V2Files(tc.v); !reflect.DeepEqual(got, tc.v2) {
			t.Errorf("%s: V2Files = %v, want %v", tc.name, got, tc.v2)
		}
	}
}

func TestPaths(t *testing.T) {
	tests := []struct {
		qos  v1.PodQOSClass
		want string
	}{
		{v1.PodQOSGuaranteed, "/miniagent/podu1"},
		{v1.PodQOSBurstable, "/miniagent/burstable/podu1"},
		{v1.PodQOSBestEffort, "/miniagent/besteffort/podu1"},
	}
	for _, tc := range tests {
		if got := PodPath("miniagent", tc.qos, "u1"); got != tc.want {
			t.Errorf("PodPath(%s) = %s, want %s", tc.qos, got, tc.want)
		}
	}
	if got := WorkingSet(100, 30); got != 70 {
		t.Errorf("WorkingSet = %d", got)
	}
	if got := WorkingSet(100, 300); got != 0 {
		t.Errorf("WorkingSet = %d", got)
	}
}
