package cgroups

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// rl builds a ResourceList from cpu and memory ("" = absent) plus extra
// name/value pairs.
func rl(cpu, mem string, extra ...string) v1.ResourceList {
	out := v1.ResourceList{}
	if cpu != "" {
		out[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		out[v1.ResourceMemory] = resource.MustParse(mem)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		out[v1.ResourceName(extra[i])] = resource.MustParse(extra[i+1])
	}
	return out
}

type res struct{ req, lim v1.ResourceList }

func qosPod(initRes []res, ctrRes ...res) *v1.Pod {
	p := &v1.Pod{}
	for _, r := range initRes {
		p.Spec.InitContainers = append(p.Spec.InitContainers,
			v1.Container{Name: "i", Resources: v1.ResourceRequirements{Requests: r.req, Limits: r.lim}})
	}
	for _, r := range ctrRes {
		p.Spec.Containers = append(p.Spec.Containers,
			v1.Container{Name: "c", Resources: v1.ResourceRequirements{Requests: r.req, Limits: r.lim}})
	}
	return p
}

func TestQOSClass(t *testing.T) {
	none := res{}
	guar := res{rl("100m", "100Mi"), rl("100m", "100Mi")}
	G, B, BE := v1.PodQOSGuaranteed, v1.PodQOSBurstable, v1.PodQOSBestEffort
	tests := []struct {
		name string
		pod  *v1.Pod
		want v1.PodQOSClass
	}{
		// The cases of Kubernetes' own QoS table.
		{"guaranteed", qosPod(nil, guar), G},
		{"guaranteed-guaranteed", qosPod(nil, guar, guar), G},
		{"best-effort-best-effort", qosPod(nil, none, none), BE},
		{"best-effort", qosPod(nil, none), BE},
		{"best-effort-burstable", qosPod(nil, none, res{rl("1", ""), rl("2", "")}), B},
		{"best-effort-guaranteed", qosPod(nil, none, res{rl("10m", "100Mi"), rl("10m", "100Mi")}), B},
		{"burstable-cpu-guaranteed-memory", qosPod(nil, res{rl("", "100Mi"), rl("", "100Mi")}), B},
		{"burstable-no-limits", qosPod(nil, res{rl("100m", "100Mi"), nil}), B},
		{"burstable-guaranteed", qosPod(nil, res{rl("1", "100Mi"), rl("2", "100Mi")}, guar), B},
		{"burstable-unbounded-but-requests-match-limits", qosPod(nil,
			res{rl("100m", "100Mi"), rl("200m", "200Mi")}, res{rl("100m", "100Mi"), nil}), B},
		{"burstable-1", qosPod(nil, res{rl("10m", "100Mi"), rl("100m", "200Mi")}), B},
		{"burstable-2 explicit zero requests", qosPod(nil, res{rl("0", "0"), rl("100m", "200Mi")}), B},
		{"best-effort-hugepages", qosPod(nil, res{rl("0", "0", "hugepages-2Mi", "1Gi"), rl("0", "0", "hugepages-2Mi", "1Gi")}), BE},
		{"init-container burstable", qosPod([]res{{rl("10m", "100Mi"), rl("100m", "200Mi")}}, none), B},

		// Limits only: requests default to the limits.
		{"limits only", qosPod(nil, res{nil, rl("500m", "64Mi")}), G},
		{"limits only, two containers", qosPod(nil, res{nil, rl("500m", "64Mi")}, res{nil, rl("1", "1Gi")}), G},
		{"limits only cpu", qosPod(nil, res{nil, rl("500m", "")}), B},
		{"cpu request defaulted, memory request lower", qosPod(nil, res{rl("", "32Mi"), rl("1", "64Mi")}), B},
		{"memory request defaulted, cpu equal", qosPod(nil, res{rl("1", ""), rl("1", "64Mi")}), G},

		// Init containers take part.
		{"guaranteed init and containers", qosPod([]res{guar}, guar), G},
		{"best-effort init breaks guaranteed", qosPod([]res{none}, guar), B},
		{"sidecar with limits only", qosPod([]res{{nil, rl("100m", "100Mi")}}, guar), G},

		// Only cpu and memory count; zero quantities are unset.
		{"only ephemeral-storage", qosPod(nil, res{rl("", "", "ephemeral-storage", "1Gi"), rl("", "", "ephemeral-storage", "1Gi")}), BE},
		{"guaranteed with extended resource mismatch", qosPod(nil,
			res{rl("1", "1Gi", "example.com/gpu", "1"), rl("1", "1Gi", "example.com/gpu", "2")}), G},
		{"zero limits", qosPod(nil, res{nil, rl("0", "0")}), BE},
		{"zero cpu limit with memory", qosPod(nil, res{nil, rl("0", "1Gi")}), B},
		{"sums equal but per-container differ", qosPod(nil,
			res{rl("100m", "100Mi"), rl("200m", "100Mi")}, res{rl("300m", "100Mi"), rl("200m", "100Mi")}), G},
		{"same value different units", qosPod(nil, res{rl("1", "1Gi"), rl("1000m", "1024Mi")}), G},
		{"no containers", &v1.Pod{}, BE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := QOSClass(tc.pod); got != tc.want {
				t.Errorf("QOSClass = %s, want %s", got, tc.want)
			}
		})
	}
}
