package containerd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/miniagent/miniagent/runtime"
)

// testRootfs is an image root with an /etc/passwd and an /etc/group that
// list user app (1000) in audio and video, and root in video.
func testRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\napp:x:1000:\naudio:x:29:app\nvideo:x:44:app,root\nstaff:x:50:\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// defaultSpec is containerd's default spec for a container whose root is
// rootfs, with the process's user uid:gid.
func defaultSpec(t *testing.T, rootfs string, uid, gid uint32) (context.Context, *oci.Spec) {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), "test")
	s := &oci.Spec{}
	if err := oci.ApplyOpts(ctx, nil, &containers.Container{ID: "c"}, s, oci.WithDefaultSpec()); err != nil {
		t.Fatal(err)
	}
	s.Root.Path = rootfs
	s.Process.User.UID, s.Process.User.GID = uid, gid
	return ctx, s
}

func TestGroupsUser(t *testing.T) {
	uid := int64(1000)
	tests := []struct {
		image string
		run   *int64
		want  string
	}{
		{"", nil, "0"},
		{"app", nil, "app"},
		{"app:staff", nil, "app"},
		{"1000:50", nil, "1000"},
		{"app", &uid, "1000"},
		{":50", nil, "0"},
	}
	for _, tc := range tests {
		if got := groupsUser(tc.image, tc.run); got != tc.want {
			t.Errorf("groupsUser(%q, %v) = %q, want %q", tc.image, tc.run, got, tc.want)
		}
	}
}

func TestWithGroups(t *testing.T) {
	rootfs := testRootfs(t)
	tests := []struct {
		name     string
		user     string
		uid, gid uint32
		merge    bool
		extra    []int64
		want     []uint32
	}{
		{"image memberships of a uid", "1000", 1000, 1000, true, nil, []uint32{1000, 29, 44}},
		{"by name", "app", 1000, 1000, true, nil, []uint32{1000, 29, 44}},
		{"fsGroup then supplementalGroups after them", "1000", 1000, 1000, true, []int64{2000, 50, 29}, []uint32{1000, 29, 44, 2000, 50}},
		{"strict leaves the image out", "1000", 1000, 1000, false, []int64{2000, 50}, []uint32{1000, 2000, 50}},
		{"root", "0", 0, 0, true, nil, []uint32{0, 44}},
		{"runAsGroup only: the new primary group", "0", 0, 3000, true, nil, []uint32{3000, 44}},
		{"uid not in /etc/passwd", "4242", 4242, 0, true, []int64{7}, []uint32{0, 7}},
		{"primary listed once", "1000", 1000, 2000, true, []int64{2000}, []uint32{2000, 29, 44}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, s := defaultSpec(t, rootfs, tc.uid, tc.gid)
			s.Process.User.AdditionalGids = []uint32{99} // what the image config left
			if err := withGroups(tc.user, tc.merge, tc.extra)(ctx, nil, &containers.Container{ID: "c"}, s); err != nil {
				t.Fatal(err)
			}
			got := s.Process.User.AdditionalGids
			if got[0] != tc.gid || !sameSet(got, tc.want) || len(got) != len(tc.want) {
				t.Fatalf("groups %v, want %v (primary first)", got, tc.want)
			}
		})
	}
}

func sameSet(a, b []uint32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestWithCapabilities(t *testing.T) {
	tests := []struct {
		name      string
		add, drop []string
		has, lack []string
		exactly   []string // when set: the whole bounding set
	}{
		{name: "add one", add: []string{"NET_ADMIN"}, has: []string{"CAP_NET_ADMIN", "CAP_CHOWN"}},
		{name: "drop one", drop: []string{"net_raw"}, has: []string{"CAP_CHOWN"}, lack: []string{"CAP_NET_RAW"}},
		{name: "drop ALL add one", add: []string{"NET_BIND_SERVICE"}, drop: []string{"ALL"}, exactly: []string{"CAP_NET_BIND_SERVICE"}},
		{name: "drop ALL", drop: []string{"all"}, exactly: []string{}},
		{name: "add ALL drop one", add: []string{"ALL"}, drop: []string{"CHOWN"}, has: []string{"CAP_KILL"}, lack: []string{"CAP_CHOWN"}},
		{name: "CAP_ prefix tolerated", add: []string{"CAP_SYS_PTRACE"}, has: []string{"CAP_SYS_PTRACE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, s := defaultSpec(t, "/", 0, 0)
			if err := withCapabilities(tc.add, tc.drop)(ctx, nil, &containers.Container{ID: "c"}, s); err != nil {
				t.Fatal(err)
			}
			c := s.Process.Capabilities
			for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted} {
				if tc.exactly != nil && !slices.Equal(set, tc.exactly) {
					t.Errorf("capabilities %v, want exactly %v", set, tc.exactly)
				}
				for _, h := range tc.has {
					if !slices.Contains(set, h) {
						t.Errorf("%v lacks %s", set, h)
					}
				}
				for _, l := range tc.lack {
					if slices.Contains(set, l) {
						t.Errorf("%v has %s", set, l)
					}
				}
			}
		})
	}
}

func TestSecurityOpts(t *testing.T) {
	rootfs := testRootfs(t)
	apply := func(t *testing.T, spec runtime.ContainerSpec) *oci.Spec {
		t.Helper()
		ctx, s := defaultSpec(t, rootfs, 0, 0)
		if !s.Process.NoNewPrivileges {
			t.Fatal("containerd's default spec no longer sets no_new_privs; the test's premise is gone")
		}
		opts := securityOpts(ocispec.ImageConfig{User: "app"}, spec)
		if err := oci.ApplyOpts(ctx, nil, &containers.Container{ID: "c"}, s, opts...); err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("defaults: no_new_privs off, unconfined, writable root", func(t *testing.T) {
		s := apply(t, runtime.ContainerSpec{})
		if s.Process.NoNewPrivileges || s.Linux.Seccomp != nil || s.Root.Readonly || len(s.Linux.MaskedPaths) == 0 {
			t.Fatalf("nnp %v seccomp %v readonly %v masked %v", s.Process.NoNewPrivileges, s.Linux.Seccomp, s.Root.Readonly, s.Linux.MaskedPaths)
		}
	})
	t.Run("restricted", func(t *testing.T) {
		s := apply(t, runtime.ContainerSpec{
			NoNewPrivileges: true, ReadOnlyRootfs: true, Seccomp: runtime.SeccompRuntimeDefault,
			DropCapabilities: []string{"ALL"}, Sysctls: map[string]string{"net.ipv4.ping_group_range": "0 0"},
		})
		if !s.Process.NoNewPrivileges || !s.Root.Readonly || s.Linux.Seccomp == nil || len(s.Process.Capabilities.Bounding) != 0 ||
			s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 0" {
			t.Fatalf("nnp %v readonly %v seccomp %v caps %v sysctl %v", s.Process.NoNewPrivileges, s.Root.Readonly, s.Linux.Seccomp != nil, s.Process.Capabilities.Bounding, s.Linux.Sysctl)
		}
	})
	t.Run("localhost seccomp profile", func(t *testing.T) {
		profile := filepath.Join(t.TempDir(), "p.json")
		if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		s := apply(t, runtime.ContainerSpec{Seccomp: profile})
		if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != "SCMP_ACT_ALLOW" || len(s.Linux.Seccomp.Syscalls) != 1 {
			t.Fatalf("seccomp %+v", s.Linux.Seccomp)
		}
	})
	t.Run("privileged: everything, unconfined", func(t *testing.T) {
		s := apply(t, runtime.ContainerSpec{Privileged: true, Seccomp: runtime.SeccompRuntimeDefault})
		if s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 || len(s.Linux.Devices) == 0 {
			t.Fatalf("seccomp %v masked %v readonly %v devices %d", s.Linux.Seccomp != nil, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, len(s.Linux.Devices))
		}
	})
	t.Run("groups of the image user and the pod", func(t *testing.T) {
		uid, gid := int64(1000), int64(1000)
		s := apply(t, runtime.ContainerSpec{RunAsUser: &uid, RunAsGroup: &gid, SupplementalGroups: []int64{2000}})
		if !sameSet(s.Process.User.AdditionalGids, []uint32{0, 29, 44, 2000}) {
			// The user itself was set by other options; here only the groups
			// are computed (primary 0 from defaultSpec).
			t.Fatalf("groups %v", s.Process.User.AdditionalGids)
		}
	})
}

func TestPropagationOf(t *testing.T) {
	mountinfo := []byte(`22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /mnt/shared rw shared:5 - tmpfs tmpfs rw
31 30 0:27 / /mnt/shared/slave rw master:5 - tmpfs tmpfs rw
32 22 0:28 / /mnt/private rw - tmpfs tmpfs rw
33 22 0:29 / /mnt/with\040space rw shared:7 master:2 - tmpfs tmpfs rw
34 32 0:30 / /mnt/private rw shared:9 - tmpfs tmpfs rw
`)
	tests := []struct {
		path, mp      string
		shared, slave bool
	}{
		{"/var/lib/x", "/", true, false},
		{"/mnt/shared/data", "/mnt/shared", true, false},
		{"/mnt/shared/slave", "/mnt/shared/slave", false, true},
		{"/mnt/sharedx", "/", true, false},
		{"/mnt/with space/a", "/mnt/with space", true, true},
		{"/mnt/private/a", "/mnt/private", true, false}, // the topmost of two mounts
	}
	for _, tc := range tests {
		mp, shared, slave := propagationOf(mountinfo, tc.path)
		if mp != tc.mp || shared != tc.shared || slave != tc.slave {
			t.Errorf("%s: on %q shared %v slave %v, want %q %v %v", tc.path, mp, shared, slave, tc.mp, tc.shared, tc.slave)
		}
	}
}
