package containerd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/miniagent/miniagent/runtime"
)

// statusLines runs script in a new container of p built by mutate and
// returns its output lines without the stream prefix.
func statusLines(t *testing.T, p *testPod, n int, script string, mutate func(*runtime.ContainerSpec)) []string {
	t.Helper()
	spec := p.spec("sh", "-c", script)
	mutate(&spec)
	p.run(spec)
	recs := logRecords(t, spec.LogPath, n)
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, strings.TrimPrefix(r, "stdout F "))
	}
	if len(out) != n {
		t.Fatalf("want %d lines, got %q", n, out)
	}
	return out
}

func TestSecurityRestricted(t *testing.T) {
	p := newPod(t, false)
	uid, gid := int64(1000), int64(3000)
	script := `grep -E '^(Groups|CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\t ' ' '
touch /rootfs-write 2>/dev/null && echo rootfs=rw || echo rootfs=ro
cat /proc/sys/net/ipv4/ping_group_range | tr -s '\t ' ' '`
	got := statusLines(t, p, 6, script, func(s *runtime.ContainerSpec) {
		s.RunAsUser, s.RunAsGroup = &uid, &gid
		s.SupplementalGroups = []int64{2000, 50}
		s.DropCapabilities = []string{"ALL"}
		s.AddCapabilities = []string{"NET_BIND_SERVICE"}
		s.NoNewPrivileges, s.ReadOnlyRootfs = true, true
		s.Seccomp = runtime.SeccompRuntimeDefault
		s.Sysctls = map[string]string{"net.ipv4.ping_group_range": "0 3000"}
	})
	want := []string{
		"Groups: 50 2000 3000 ", // sorted by the kernel
		"NoNewPrivs: 1",
		"Seccomp: 2",
		"CapEff: 0000000000000000", // non-root: permitted but not effective
		"rootfs=ro",
		"0 3000",
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("container output lacks %q: %q", w, got)
		}
	}
}

func TestSecurityDefaultsAndPrivileged(t *testing.T) {
	p := newPod(t, false)
	script := `grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status | tr -s '\t ' ' '
readlink /proc/self/ns/pid`
	def := statusLines(t, p, 4, script, func(*runtime.ContainerSpec) {})
	hostPID, _ := os.Readlink("/proc/self/ns/pid")
	if def[1] != "NoNewPrivs: 0" || def[2] != "Seccomp: 0" || def[3] == hostPID {
		t.Errorf("default container: %q (host pid ns %s)", def, hostPID)
	}
	priv := statusLines(t, p, 4, script, func(s *runtime.ContainerSpec) { s.Privileged, s.HostPID = true, true })
	self, _ := os.ReadFile("/proc/self/status")
	var capEff string
	for _, l := range strings.Split(string(self), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			capEff = "CapEff: " + strings.TrimSpace(v)
		}
	}
	if priv[0] != capEff || priv[2] != "Seccomp: 0" || priv[3] != hostPID {
		t.Errorf("privileged hostPID container: %q, want %s and pid ns %s", priv, capEff, hostPID)
	}
	if def[0] == priv[0] {
		t.Errorf("privileged container has the default capabilities %s", def[0])
	}
}

// sharedTmpfs mounts a tmpfs on a new directory and makes it a shared mount.
func sharedTmpfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMountPropagation(t *testing.T) {
	p := newPod(t, false)
	ctx := context.Background()

	// HostToContainer: a mount made on the host later shows in the container.
	dir := sharedTmpfs(t)
	// Up to 60 s for the mount to show (a loaded host once took more than
	// 10 s); if it never does, the container's mount table is logged.
	in := p.spec("sh", "-c", "for i in $(seq 600); do [ -e /m/sub/hello ] && break; sleep 0.1; done; cat /m/sub/hello || grep ' /m' /proc/self/mountinfo")
	in.Mounts = []runtime.Mount{{Source: dir, Destination: "/m", Type: "bind", Options: []string{"rbind", "rw", "rslave"}}}
	p.start(in)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "hello"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hub.waitFor(t, in.ID, runtime.EventExit, 90*time.Second)
	if recs := logRecords(t, in.LogPath, 1); len(recs) != 1 || recs[0] != "stdout F from-host" {
		t.Fatalf("HostToContainer: the container saw %q", recs)
	}

	// Bidirectional: a mount made in a privileged container shows on the host.
	dir2 := sharedTmpfs(t)
	out := p.spec("sh", "-c", "mkdir /m/inner && mount -t tmpfs none /m/inner && echo from-container > /m/inner/f")
	out.Privileged = true
	out.Mounts = []runtime.Mount{{Source: dir2, Destination: "/m", Type: "bind", Options: []string{"rbind", "rw", "rshared"}}}
	if ev := p.run(out); ev.ExitCode != 0 {
		t.Fatalf("Bidirectional container exited %d", ev.ExitCode)
	}
	if data, err := os.ReadFile(filepath.Join(dir2, "inner", "f")); err != nil || string(data) != "from-container\n" {
		t.Fatalf("Bidirectional: the host sees %q, %v", data, err)
	}

	// A private source cannot propagate: the container is not created.
	private := p.spec("true")
	private.Mounts = []runtime.Mount{{Source: t.TempDir(), Destination: "/m", Type: "bind", Options: []string{"rbind", "rw", "rslave"}}}
	mp, shared, slave := propagationOf(mustRead(t, "/proc/self/mountinfo"), private.Mounts[0].Source)
	if shared || slave {
		t.Skipf("%s is on a shared or slave mount (%s) here", private.Mounts[0].Source, mp)
	}
	if err := rt.CreateContainer(ctx, private); err == nil || !strings.Contains(err.Error(), "not a shared or slave mount") {
		t.Fatalf("private source: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRecursiveReadOnlyMount(t *testing.T) {
	p := newPod(t, false)
	dir := sharedTmpfs(t)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	script := "touch /m/sub/x 2>/dev/null && echo sub=rw || echo sub=ro; touch /m/x 2>/dev/null && echo top=rw || echo top=ro"
	for _, tc := range []struct {
		opts []string
		want []string
	}{
		{[]string{"rbind", "ro"}, []string{"sub=rw", "top=ro"}}, // plain ro leaves submounts writable
		{[]string{"rbind", "ro", "rro"}, []string{"sub=ro", "top=ro"}},
	} {
		got := statusLines(t, p, 2, script, func(s *runtime.ContainerSpec) {
			s.Mounts = []runtime.Mount{{Source: dir, Destination: "/m", Type: "bind", Options: tc.opts}}
		})
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("options %v: %q, want %q", tc.opts, got, tc.want)
		}
	}
}
