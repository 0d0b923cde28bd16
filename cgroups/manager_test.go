package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func testPods() (guar, burst, be *v1.Pod) {
	mk := func(uid string, c ...v1.Container) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: uid, Namespace: "default", UID: types.UID(uid)}, Spec: v1.PodSpec{Containers: c}}
	}
	guar = mk("g1", ctr(nil, rl("500m", "64Mi")))
	burst = mk("b1", ctr(rl("250m", "32Mi"), rl("1", "128Mi")))
	be = mk("e1", ctr(nil, nil))
	return
}

func testAlloc() NodeAllocatable {
	return NodeAllocatable{
		Capacity:     v1.ResourceList{v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("4Gi")},
		KubeReserved: rl("500m", "1Gi"), EnforcePods: true,
	}
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// checkTree applies the standard scenario and checks every file through
// file(cgroup path, controller, name).
func checkTree(t *testing.T, m Manager, file func(p, ctrl, name string) string, v2 bool) {
	t.Helper()
	guar, burst, be := testPods()
	if err := m.EnsureTop(testAlloc()); err != nil {
		t.Fatal(err)
	}
	paths := map[*v1.Pod]string{}
	for _, p := range []*v1.Pod{guar, burst, be} {
		got, err := m.EnsurePod(p)
		if err != nil {
			t.Fatal(err)
		}
		paths[p] = got
	}
	if err := m.UpdateQoS([]*v1.Pod{guar, burst, be}); err != nil {
		t.Fatal(err)
	}
	top := m.TopPath()
	want := []struct{ p, ctrl, v1name, v1val, v2name, v2val string }{
		{top, "memory", "memory.limit_in_bytes", "3221225472", "memory.max", "3221225472"},
		{top, "cpu", "cpu.shares", "1536", "cpu.weight", "59"},
		{top + "/besteffort", "cpu", "cpu.shares", "2", "cpu.weight", "1"},
		{top + "/burstable", "cpu", "cpu.shares", "256", "cpu.weight", "10"},
		{paths[guar], "cpu", "cpu.shares", "512", "cpu.weight", "20"},
		{paths[guar], "cpu", "cpu.cfs_quota_us", "50000", "cpu.max", "50000 100000"},
		{paths[guar], "memory", "memory.limit_in_bytes", "67108864", "memory.max", "67108864"},
		{paths[burst], "cpu", "cpu.cfs_quota_us", "100000", "cpu.max", "100000 100000"},
		{paths[burst], "memory", "memory.limit_in_bytes", "134217728", "memory.max", "134217728"},
		{paths[be], "cpu", "cpu.shares", "2", "cpu.weight", "1"},
		{paths[be], "cpu", "cpu.cfs_quota_us", "-1", "cpu.max", "max 100000"},
	}
	if got := paths[guar]; got != top+"/podg1" {
		t.Errorf("guaranteed pod path = %s", got)
	}
	if got := paths[be]; got != top+"/besteffort/pode1" {
		t.Errorf("besteffort pod path = %s", got)
	}
	for _, w := range want {
		name, val := w.v1name, w.v1val
		if v2 {
			name, val = w.v2name, w.v2val
		}
		if got := file(w.p, w.ctrl, name); got != val {
			t.Errorf("%s %s = %q, want %q", w.p, name, got, val)
		}
	}
}

func TestManagerFakeV2(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager("miniagent-test", WithFakeRoot(root, 2))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 2 {
		t.Fatalf("Version = %d", m.Version())
	}
	file := func(p, _, name string) string { return readTrim(t, filepath.Join(root, p, name)) }
	checkTree(t, m, file, true)
	for _, p := range []string{"", "miniagent-test", "miniagent-test/burstable"} {
		if got := readTrim(t, filepath.Join(root, p, "cgroup.subtree_control")); got != "+cpu +memory +pids" {
			t.Errorf("%s/cgroup.subtree_control = %q", p, got)
		}
	}
	// Container extras and memory stats.
	ctrPath := "/miniagent-test/podg1/abc"
	if err := os.MkdirAll(filepath.Join(root, ctrPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.ConfigureContainer(ctrPath); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(root, ctrPath, "memory.oom.group")); got != "1" {
		t.Errorf("memory.oom.group = %q", got)
	}
	_ = os.WriteFile(filepath.Join(root, ctrPath, "memory.current"), []byte("1000\n"), 0o644)
	_ = os.WriteFile(filepath.Join(root, ctrPath, "memory.stat"), []byte("anon 600\nfile 400\nactive_file 100\ninactive_file 300\n"), 0o644)
	st, err := m.MemoryStats(ctrPath)
	if err != nil || st != (MemoryStats{Usage: 1000, InactiveFile: 300, WorkingSet: 700}) {
		t.Errorf("MemoryStats = %+v, %v", st, err)
	}
	// Removal takes the pod and its container cgroups, nothing else.
	guar, _, _ := testPods()
	if err := os.Remove(filepath.Join(root, ctrPath, "memory.oom.group")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"memory.current", "memory.stat"} {
		_ = os.Remove(filepath.Join(root, ctrPath, f))
	}
	removeFiles(t, filepath.Join(root, "miniagent-test/podg1"))
	if err := m.RemovePod(guar); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "miniagent-test/podg1")); !os.IsNotExist(err) {
		t.Errorf("pod cgroup still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "miniagent-test/burstable/podb1")); err != nil {
		t.Errorf("other pod removed: %v", err)
	}
}

// removeFiles deletes the regular files below dir, which a real cgroupfs
// would not have as removable entries (rmdir works there).
func removeFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			return os.Remove(p)
		}
		return nil
	})
}

func TestManagerFakeV1(t *testing.T) {
	root := t.TempDir()
	for _, c := range []string{"cpu", "memory", "pids", "devices"} {
		if err := os.MkdirAll(filepath.Join(root, c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m, err := NewManager("/miniagent-test/", WithFakeRoot(root, 1))
	if err != nil {
		t.Fatal(err)
	}
	file := func(p, ctrl, name string) string { return readTrim(t, filepath.Join(root, ctrl, p, name)) }
	checkTree(t, m, file, false)
	if _, err := os.Stat(filepath.Join(root, "pids/miniagent-test/burstable/podb1")); err != nil {
		t.Errorf("pod cgroup not created in pids: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "cpuacct")); !os.IsNotExist(err) {
		t.Errorf("an unmounted controller was created: %v", err)
	}
	ctrPath := "/miniagent-test/burstable/podb1/c1"
	_ = os.MkdirAll(filepath.Join(root, "memory", ctrPath), 0o755)
	_ = os.WriteFile(filepath.Join(root, "memory", ctrPath, "memory.usage_in_bytes"), []byte("5000\n"), 0o644)
	_ = os.WriteFile(filepath.Join(root, "memory", ctrPath, "memory.stat"), []byte("cache 10\ninactive_file 1\ntotal_inactive_file 2000\n"), 0o644)
	st, err := m.MemoryStats(ctrPath)
	if err != nil || st.WorkingSet != 3000 {
		t.Errorf("MemoryStats = %+v, %v", st, err)
	}
	if err := m.ConfigureContainer(ctrPath); err != nil {
		t.Errorf("ConfigureContainer on v1: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "memory", ctrPath, "memory.oom.group")); !os.IsNotExist(err) {
		t.Error("memory.oom.group written on v1")
	}
}

func TestNewManagerRejects(t *testing.T) {
	for _, root := range []string{"", "/", "a/../.."} {
		if _, err := NewManager(root); err == nil {
			t.Errorf("NewManager(%q) succeeded", root)
		}
	}
	if _, err := NewManager("x", WithFakeRoot(t.TempDir(), 3)); err == nil {
		t.Error("version 3 accepted")
	}
}

// TestManagerRealV1 builds the tree under a test-only root in this host's
// cgroup v1 hierarchies and checks what the kernel shows.
func TestManagerRealV1(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("no cgroup v1 memory hierarchy")
	}
	name := fmt.Sprintf("miniagent-unit-%d", os.Getpid())
	m, err := NewManager(name)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 1 {
		t.Skipf("host is cgroup v%d", m.Version())
	}
	t.Cleanup(func() {
		if err := RemovePath("/" + name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	file := func(p, ctrl, name string) string { return readTrim(t, filepath.Join("/sys/fs/cgroup", ctrl, p, name)) }
	checkTree(t, m, file, false)
	guar, burst, be := testPods()
	st, err := m.MemoryStats(m.TopPath())
	if err != nil || st.Usage < 0 {
		t.Errorf("MemoryStats(top) = %+v, %v", st, err)
	}
	for _, p := range []*v1.Pod{guar, burst, be} {
		if err := m.RemovePod(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/" + name + "/podg1", "/" + name + "/burstable/podb1", "/" + name + "/besteffort/pode1"} {
		if Exists(p) {
			t.Errorf("%s still exists", p)
		}
	}
}
