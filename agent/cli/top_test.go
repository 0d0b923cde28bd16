package cli

import (
	"testing"

	"github.com/miniagent/miniagent/agent/api"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func ctrStats(name string, nanoCores, ws uint64) api.ContainerStats {
	return api.ContainerStats{Name: name, CPU: &api.CPUStats{UsageNanoCores: nanoCores}, Memory: &api.MemoryStats{WorkingSetBytes: ws}}
}

func TestTop(t *testing.T) {
	e := newEnv(t)
	_, errs, rc := e.cli("", "top", "pod")
	if rc != 1 || errs != "Error from server (ServiceUnavailable): no stats\n" {
		t.Errorf("no stats: %d %q", rc, errs)
	}
	web := statusPod("web")
	web.Labels = map[string]string{"app": "web"}
	e.b.SetPod(web)
	e.b.SetPod(statusPod("db"))
	e.b.NodeObj.Status.Allocatable = v1.ResourceList{v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("4Gi")}
	e.b.Summary = &api.Summary{
		Node: api.NodeStats{NodeName: "node1", CPU: &api.CPUStats{UsageNanoCores: 250_000_001}, Memory: &api.MemoryStats{WorkingSetBytes: 1 << 30}},
		Pods: []api.PodStats{
			{PodRef: api.PodReference{Name: "db", Namespace: "default", UID: "uid-2"}, Containers: []api.ContainerStats{ctrStats("ca", 2_500_000, 12<<20+5)}},
			{PodRef: api.PodReference{Name: "sys", Namespace: "kube-system", UID: "uid-9"}, Containers: []api.ContainerStats{ctrStats("ca", 0, 1<<20)}},
			{PodRef: api.PodReference{Name: "web", Namespace: "default", UID: "uid-1"}, Containers: []api.ContainerStats{ctrStats("app", 100_000_000, 30<<20), ctrStats("log", 1, 2<<20)}},
		},
	}
	web.UID = "uid-1"
	e.b.SetPod(web)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"top", "pod"}, "" +
			"NAME   CPU(cores)   MEMORY(bytes)\n" +
			"db     3m           12Mi\n" +
			"web    101m         32Mi\n"},
		{[]string{"top", "pods", "--sort-by=memory", "-A"}, "" +
			"NAMESPACE     NAME   CPU(cores)   MEMORY(bytes)\n" +
			"default       web    101m         32Mi\n" +
			"default       db     3m           12Mi\n" +
			"kube-system   sys    0m           1Mi\n"},
		{[]string{"top", "pod", "--containers"}, "" +
			"POD   NAME   CPU(cores)   MEMORY(bytes)\n" +
			"db    ca     3m           12Mi\n" +
			"web   app    100m         30Mi\n" +
			"web   log    1m           2Mi\n"},
		{[]string{"top", "pod", "web", "--no-headers"}, "web   101m   32Mi\n"},
		{[]string{"top", "pod", "-l", "app=web"}, "" +
			"NAME   CPU(cores)   MEMORY(bytes)\n" +
			"web    101m         32Mi\n"},
		{[]string{"top", "node"}, "" +
			"NAME    CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)\n" +
			"node1   251m         12%      1024Mi          25%\n"},
	} {
		if got := e.mustRun(tc.args...); got != tc.want {
			t.Errorf("%v:\n%s\nwant:\n%s", tc.args, got, tc.want)
		}
	}
	_, errs, rc = e.cli("", "top", "pod", "nope")
	if rc != 1 || errs != "Error from server (NotFound): pods \"nope\" not found\n" {
		t.Errorf("missing pod: %d %q", rc, errs)
	}
	_, errs, rc = e.cli("", "top", "pod", "--sort-by=name")
	if rc != 1 || errs != "error: --sort-by accepts only cpu or memory\n" {
		t.Errorf("bad sort: %d %q", rc, errs)
	}
	_, errs, rc = e.cli("", "top", "node", "other")
	if rc != 1 || errs != "Error from server (NotFound): nodes \"other\" not found\n" {
		t.Errorf("other node: %d %q", rc, errs)
	}
}
