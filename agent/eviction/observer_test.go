package eviction

import (
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/miniagent/miniagent/cgroups"
)

func writeCgroupMemory(t *testing.T, dir string, usage, inactive string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.usage_in_bytes"), []byte(usage+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.stat"), []byte("total_inactive_file "+inactive+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHostObserverOverFakeCgroups(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"cpu", "memory"} {
		_ = os.MkdirAll(filepath.Join(root, c), 0o755)
	}
	cg, err := cgroups.NewManager("ma", cgroups.WithFakeRoot(root, 1))
	if err != nil {
		t.Fatal(err)
	}
	writeCgroupMemory(t, filepath.Join(root, "memory"), "1073741824", "0")
	writeCgroupMemory(t, filepath.Join(root, "memory/ma"), "314572800", "104857600")
	alloc := cgroups.NodeAllocatable{
		Capacity:     v1.ResourceList{v1.ResourceMemory: resource.MustParse("4Gi")},
		KubeReserved: v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")},
	}
	obs, err := NewHostObserver(cg, alloc)()
	if err != nil {
		t.Fatal(err)
	}
	a := obs.Signals[SignalAllocatableMemoryAvailable]
	if a.Capacity != 3<<30 || a.Available != 3<<30-200*mi {
		t.Errorf("allocatableMemory.available = %+v", a)
	}
	n := obs.Signals[SignalMemoryAvailable]
	if n.Capacity <= 0 || n.Available != n.Capacity-1<<30 {
		t.Errorf("memory.available = %+v (root working set 1Gi)", n)
	}

	p := pod("p", "", 0, 0).Pod
	p.Spec.InitContainers = []v1.Container{{Name: "init"}}
	writeCgroupMemory(t, filepath.Join(root, "memory/ma/besteffort/podp/c1"), "5000", "1000")
	st := PodStatsFrom(p, map[string]string{"c": "/ma/besteffort/podp/c1", "init": "/ma/gone"}, cg.MemoryStats)
	if st.WorkingSet != 4000 || len(st.Containers) != 1 || st.QOS != v1.PodQOSBestEffort {
		t.Errorf("PodStatsFrom = %+v", st)
	}
}
