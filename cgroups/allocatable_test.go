package cgroups

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseReserved(t *testing.T) {
	tests := []struct {
		in      string
		want    map[v1.ResourceName]string
		wantErr string
	}{
		{"", map[v1.ResourceName]string{}, ""},
		{"memory=1Gi,cpu=500m", map[v1.ResourceName]string{"memory": "1Gi", "cpu": "500m"}, ""},
		{" cpu = 1 , ephemeral-storage=10Gi,pid=100", map[v1.ResourceName]string{"cpu": "1", "ephemeral-storage": "10Gi", "pid": "100"}, ""},
		{"memory", nil, "not name=quantity"},
		{"memory=", nil, "not name=quantity"},
		{"gpu=1", nil, `unsupported resource "gpu"`},
		{"memory=lots", nil, `memory="lots"`},
		{"memory=-1Gi", nil, "must not be negative"},
		{"cpu=1,cpu=2", nil, "cpu given twice"},
	}
	for _, tc := range tests {
		got, err := ParseReserved("kube-reserved", tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--kube-reserved") {
				t.Errorf("ParseReserved(%q) error = %v, want it to mention %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseReserved(%q): %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseReserved(%q) = %v, want %v", tc.in, got, tc.want)
		}
		for k, v := range tc.want {
			q := got[k]
			if q.Cmp(resource.MustParse(v)) != 0 {
				t.Errorf("ParseReserved(%q)[%s] = %s, want %s", tc.in, k, q.String(), v)
			}
		}
	}
}

func TestParseEnforceNodeAllocatable(t *testing.T) {
	tests := []struct {
		in      string
		want    bool
		wantErr string
	}{
		{"pods", true, ""},
		{"", false, ""},
		{"none", false, ""},
		{" pods ,", true, ""},
		{"pods,none", false, "cannot be combined"},
		{"pods,system-reserved", false, "not supported"},
		{"kube-reserved", false, "not supported"},
		{"nodes", false, "unknown option"},
	}
	for _, tc := range tests {
		got, err := ParseEnforceNodeAllocatable(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseEnforceNodeAllocatable(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseEnforceNodeAllocatable(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestNodeAllocatable(t *testing.T) {
	gi := int64(1 << 30)
	capacity := v1.ResourceList{v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: *resource.NewQuantity(8*gi, resource.BinarySI)}
	tests := []struct {
		name      string
		n         NodeAllocatable
		top       Values
		allocMem  int64
		allocMCPU int64
	}{
		{"nothing reserved, not enforced", NodeAllocatable{Capacity: capacity},
			Values{CPUShares: 2048}, 8 * gi, 2000},
		{"reserved, enforced", NodeAllocatable{Capacity: capacity, EnforcePods: true,
			KubeReserved: rl("500m", "1Gi"), SystemReserved: rl("", "512Mi"), HardEvictionMemory: 100 << 20},
			Values{CPUShares: 1536, MemoryLimit: 8*gi - gi - gi/2}, 8*gi - gi - gi/2 - 100<<20, 1500},
		{"reserved, not enforced: the cgroup keeps the whole node", NodeAllocatable{Capacity: capacity,
			KubeReserved: rl("500m", "1Gi")},
			Values{CPUShares: 2048}, 7 * gi, 1500},
		{"everything reserved", NodeAllocatable{Capacity: capacity, EnforcePods: true, SystemReserved: rl("4", "9Gi")},
			Values{CPUShares: 2, MemoryLimit: 1}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.n.TopValues(); got != tc.top {
				t.Errorf("TopValues = %+v, want %+v", got, tc.top)
			}
			a := tc.n.Allocatable()
			if m := a[v1.ResourceMemory]; m.Value() != tc.allocMem {
				t.Errorf("allocatable memory = %d, want %d", m.Value(), tc.allocMem)
			}
			if c := a[v1.ResourceCPU]; c.MilliValue() != tc.allocMCPU {
				t.Errorf("allocatable cpu = %dm, want %dm", c.MilliValue(), tc.allocMCPU)
			}
		})
	}
}
