package admission

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestPodRequests(t *testing.T) {
	always := ptrTo(v1.ContainerRestartPolicyAlways)
	ctr := func(name string, req v1.ResourceList) v1.Container {
		return v1.Container{Name: name, Resources: v1.ResourceRequirements{Requests: req}}
	}
	sidecar := func(name string, req v1.ResourceList) v1.Container {
		c := ctr(name, req)
		c.RestartPolicy = always
		return c
	}
	tests := []struct {
		name       string
		init, apps []v1.Container
		overhead   v1.ResourceList
		podLevel   v1.ResourceList
		want       v1.ResourceList
	}{
		{name: "none", apps: []v1.Container{ctr("a", nil)}, want: v1.ResourceList{}},
		{name: "sum of app containers",
			apps: []v1.Container{ctr("a", rl("cpu", "100m", "memory", "64Mi")), ctr("b", rl("cpu", "200m"))},
			want: rl("cpu", "300m", "memory", "64Mi")},
		{name: "init container larger than the sum wins per resource",
			init: []v1.Container{ctr("i", rl("cpu", "1", "memory", "10Mi"))},
			apps: []v1.Container{ctr("a", rl("cpu", "100m", "memory", "64Mi")), ctr("b", rl("cpu", "200m"))},
			want: rl("cpu", "1", "memory", "64Mi")},
		{name: "max over init containers, not their sum",
			init: []v1.Container{ctr("i1", rl("memory", "100Mi")), ctr("i2", rl("memory", "200Mi"))},
			apps: []v1.Container{ctr("a", rl("memory", "50Mi"))},
			want: rl("memory", "200Mi")},
		{name: "sidecar adds to the app sum",
			init: []v1.Container{sidecar("s", rl("memory", "100Mi"))},
			apps: []v1.Container{ctr("a", rl("memory", "50Mi"))},
			want: rl("memory", "150Mi")},
		{name: "init container after a sidecar runs next to it",
			init: []v1.Container{sidecar("s", rl("memory", "100Mi")), ctr("i", rl("memory", "200Mi"))},
			apps: []v1.Container{ctr("a", rl("memory", "50Mi"))},
			want: rl("memory", "300Mi")},
		{name: "init container before a sidecar runs alone",
			init: []v1.Container{ctr("i", rl("memory", "200Mi")), sidecar("s", rl("memory", "100Mi"))},
			apps: []v1.Container{ctr("a", rl("memory", "50Mi"))},
			want: rl("memory", "200Mi")},
		{name: "overhead is added",
			apps:     []v1.Container{ctr("a", rl("cpu", "100m"))},
			overhead: rl("cpu", "50m", "memory", "10Mi"),
			want:     rl("cpu", "150m", "memory", "10Mi")},
		{name: "pod-level requests replace cpu and memory",
			apps:     []v1.Container{ctr("a", rl("cpu", "100m", "memory", "10Mi", "ephemeral-storage", "1Gi"))},
			podLevel: rl("cpu", "1", "memory", "1Gi"),
			want:     rl("cpu", "1", "memory", "1Gi", "ephemeral-storage", "1Gi")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1.Pod{Spec: v1.PodSpec{InitContainers: tc.init, Containers: tc.apps, Overhead: tc.overhead}}
			if tc.podLevel != nil {
				p.Spec.Resources = &v1.ResourceRequirements{Requests: tc.podLevel}
			}
			got := PodRequests(p)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if g, ok := got[k]; !ok || g.Cmp(w) != 0 {
					t.Errorf("%s: got %v, want %v", k, got[k], w)
				}
			}
		})
	}
}

func TestPodLimits(t *testing.T) {
	p := mkPod("p", func(p *v1.Pod) {
		p.Spec.Containers[0].Resources.Limits = rl("memory", "100Mi")
		p.Spec.InitContainers = []v1.Container{{Name: "i", Resources: v1.ResourceRequirements{Limits: rl("memory", "300Mi")}}}
	})
	if got := PodLimits(p)[v1.ResourceMemory]; got.Cmp(rl("memory", "300Mi")["memory"]) != 0 {
		t.Errorf("limit %v, want 300Mi", got.String())
	}
}

func TestFitResources(t *testing.T) {
	node := testNode()
	node.Status.Allocatable = rl("cpu", "2", "memory", "1Gi", "pods", "3", "ephemeral-storage", "10Gi", "example.com/gpu", "1")
	two := []*v1.Pod{mkPod("a", requests("cpu", "500m", "memory", "512Mi")), mkPod("b", requests("cpu", "500m"))}
	tests := []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		want     *insufficient
	}{
		{"fits exactly", mkPod("p", requests("cpu", "1", "memory", "512Mi")), two, nil},
		{"cpu over by 1m", mkPod("p", requests("cpu", "1001m")), two, &insufficient{"cpu", 1001, 1000, 2000}},
		{"memory", mkPod("p", requests("memory", "513Mi")), two, &insufficient{"memory", 513 << 20, 512 << 20, 1 << 30}},
		{"cpu reported before memory", mkPod("p", requests("memory", "2Gi", "cpu", "3")), nil, &insufficient{"cpu", 3000, 0, 2000}},
		{"ephemeral storage", mkPod("p", requests("ephemeral-storage", "11Gi")), nil, &insufficient{"ephemeral-storage", 11 << 30, 0, 10 << 30}},
		{"extended resource the node has", mkPod("p", requests("example.com/gpu", "2")), nil, &insufficient{"example.com/gpu", 2, 0, 1}},
		{"resource the node does not list", mkPod("p", requests("example.com/fpga", "2")), nil, nil},
		{"pod count before resources", mkPod("p", requests("memory", "2Gi")), append(two, mkPod("c")), &insufficient{"pods", 1, 3, 3}},
		{"best effort pod only counts", mkPod("p"), two, nil},
		{"init container request counts", mkPod("p", func(p *v1.Pod) {
			p.Spec.InitContainers = []v1.Container{{Name: "i", Resources: v1.ResourceRequirements{Requests: rl("memory", "600Mi")}}}
		}), two, &insufficient{"memory", 600 << 20, 512 << 20, 1 << 30}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fitResources(tc.pod, node, tc.existing)
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
