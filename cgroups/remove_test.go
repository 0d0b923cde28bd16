package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	in := `25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 33 0:30 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
38 33 0:33 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
39 33 0:34 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:16 - cgroup cgroup rw,cpu,cpuacct
40 33 0:34 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:16 - cgroup cgroup rw,cpu,cpuacct
41 33 0:35 / /mnt/odd\040dir rw - cgroup cgroup rw,pids
42 30 0:36 / /tmp rw - tmpfs tmpfs rw
bad line
`
	got, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu,cpuacct", "/mnt/odd dir"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestCleanCgroupPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"/miniagent/besteffort/podx", "miniagent/besteffort/podx", true},
		{"miniagent/podx/", "miniagent/podx", true},
		{"//a//b", "a/b", true},
		{"/", "", false},
		{"", "", false},
		{"/a/../../etc", "", false},
	}
	for _, tc := range tests {
		got, err := cleanCgroupPath(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("cleanCgroupPath(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// fakeHierarchies makes mount-point directories containing dirs.
func fakeHierarchies(t *testing.T, names []string, dirs ...string) []string {
	t.Helper()
	root := t.TempDir()
	var mounts []string
	for _, n := range names {
		m := filepath.Join(root, n)
		mounts = append(mounts, m)
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(m, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return mounts
}

func TestRemovePathUnder(t *testing.T) {
	pod := "/miniagent/besteffort/pod123"
	mounts := fakeHierarchies(t, []string{"memory", "cpu,cpuacct", "unified"},
		pod+"/ctr1", pod+"/ctr2/sub", "/miniagent/besteffort/pod456")
	// A hierarchy where the pod never existed.
	empty := filepath.Join(t.TempDir(), "pids")
	if err := os.MkdirAll(filepath.Join(empty, "miniagent"), 0o755); err != nil {
		t.Fatal(err)
	}
	mounts = append(mounts, empty)

	if !ExistsUnder(mounts, pod) {
		t.Fatal("ExistsUnder before removal = false")
	}
	if err := RemovePathUnder(mounts, pod); err != nil {
		t.Fatal(err)
	}
	if ExistsUnder(mounts, pod) {
		t.Fatal("ExistsUnder after removal = true")
	}
	for _, m := range mounts[:3] {
		if _, err := os.Stat(filepath.Join(m, pod)); !os.IsNotExist(err) {
			t.Errorf("%s still has the pod: %v", m, err)
		}
		if _, err := os.Stat(filepath.Join(m, "/miniagent/besteffort/pod456")); err != nil {
			t.Errorf("sibling pod removed in %s: %v", m, err)
		}
	}
	// Idempotent.
	if err := RemovePathUnder(mounts, pod); err != nil {
		t.Fatalf("second removal: %v", err)
	}
}

func TestRemovePathUnderRefusesRoot(t *testing.T) {
	mounts := fakeHierarchies(t, []string{"memory"}, "/a")
	if err := RemovePathUnder(mounts, "/"); err == nil {
		t.Fatal("removing the hierarchy root succeeded")
	}
	if _, err := os.Stat(filepath.Join(mounts[0], "a")); err != nil {
		t.Fatal(err)
	}
}

func TestRemovePathUnderReportsNonEmpty(t *testing.T) {
	// A regular file stands in for something rmdir cannot remove.
	mounts := fakeHierarchies(t, []string{"memory", "unified"}, "/p/c")
	if err := os.WriteFile(filepath.Join(mounts[0], "p/c/file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemovePathUnder(mounts, "/p"); err == nil {
		t.Fatal("want an error for a non-removable directory")
	}
	// The other hierarchy was still cleaned.
	if _, err := os.Stat(filepath.Join(mounts[1], "p")); !os.IsNotExist(err) {
		t.Fatalf("unified not cleaned: %v", err)
	}
}

func TestRemovePathRealHierarchies(t *testing.T) {
	mounts, err := Mounts()
	if err != nil || len(mounts) == 0 {
		t.Skip("no cgroup mounts")
	}
	path := "/miniagent-test-remove/pod" + strings.ReplaceAll(t.Name(), "/", "_")
	made := 0
	for _, m := range mounts {
		if os.MkdirAll(filepath.Join(m, path, "leaf"), 0o755) == nil {
			made++
		}
	}
	if made == 0 {
		t.Skip("cannot create cgroups here")
	}
	t.Cleanup(func() { _ = RemovePath("/miniagent-test-remove") })
	if !Exists(path) {
		t.Fatal("Exists = false after creating")
	}
	if err := RemovePath(path); err != nil {
		t.Fatal(err)
	}
	if Exists(path) {
		t.Fatal("Exists = true after RemovePath")
	}
	if err := RemovePath("/miniagent-test-remove"); err != nil {
		t.Fatal(err)
	}
}
