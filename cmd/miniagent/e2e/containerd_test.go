package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/miniagent/miniagent/cgroups"
	"golang.org/x/sys/unix"
)

const snapshotter = "overlayfs"

// ctrClient connects to containerd with testNamespace as the namespace of ctx.
func (x *harness) ctrClient() (*client.Client, context.Context, context.CancelFunc, error) {
	c, err := client.New(x.containerdAdr, client.WithTimeout(5*time.Second))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("connect to containerd at %s: %w", x.containerdAdr, err)
	}
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNamespace), 2*time.Minute)
	return c, ctx, func() { cancel(); c.Close() }, nil
}

// instance is what containerd holds for one container of a pod.
type instance struct {
	ID          string
	Labels      map[string]string
	SnapshotKey string
	NetNSPath   string // from the OCI spec; "" = host network
	CgroupsPath string // from the OCI spec
}

// podInstances lists the containerd containers labelled with the pod's UID.
func (x *harness) podInstances(uid string) ([]instance, error) {
	c, ctx, done, err := x.ctrClient()
	if err != nil {
		return nil, err
	}
	defer done()
	list, err := c.Containers(ctx, fmt.Sprintf(`labels."io.miniagent.pod.uid"==%q`, uid))
	if err != nil {
		return nil, err
	}
	var out []instance
	for _, ctr := range list {
		info, err := ctr.Info(ctx)
		if err != nil {
			return nil, err
		}
		in := instance{ID: ctr.ID(), Labels: info.Labels, SnapshotKey: info.SnapshotKey}
		spec, err := ctr.Spec(ctx)
		if err != nil {
			return nil, err
		}
		if spec.Linux != nil {
			in.CgroupsPath = spec.Linux.CgroupsPath
			for _, ns := range spec.Linux.Namespaces {
				if ns.Type == "network" {
					in.NetNSPath = ns.Path
				}
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// snapshotExists reports whether the overlayfs snapshot key exists in testNamespace.
func (x *harness) snapshotExists(key string) (bool, error) {
	c, ctx, done, err := x.ctrClient()
	if err != nil {
		return false, err
	}
	defer done()
	_, err = c.SnapshotService(snapshotter).Stat(ctx, key)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// cleanNamespace removes everything testNamespace holds: tasks, containers,
// snapshots, images, content, leases, and the namespace itself. The network
// namespaces the containers' specs named are unmounted too.
func (x *harness) cleanNamespace() error {
	c, ctx, done, err := x.ctrClient()
	if err != nil {
		return err
	}
	defer done()
	nsList, err := c.NamespaceService().List(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, n := range nsList {
		found = found || n == testNamespace
	}
	if !found {
		return nil
	}
	var errs []string
	note := func(what string, err error) {
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Sprintf("%s: %v", what, err))
		}
	}
	list, err := c.Containers(ctx)
	note("list containers", err)
	nsPaths := map[string]bool{}
	for _, ctr := range list {
		if spec, err := ctr.Spec(ctx); err == nil && spec.Linux != nil {
			for _, ns := range spec.Linux.Namespaces {
				if ns.Path != "" && (ns.Type == "network" || ns.Type == "ipc") {
					nsPaths[ns.Path] = true
				}
			}
		}
		if task, err := ctr.Task(ctx, nil); err == nil {
			if st, err := task.Status(ctx); err == nil && st.Status == client.Running {
				if ch, err := task.Wait(ctx); err == nil {
					_ = task.Kill(ctx, syscall.SIGKILL)
					select {
					case <-ch:
					case <-time.After(10 * time.Second):
					}
				}
			}
			_, err := task.Delete(ctx, client.WithProcessKill)
			note("delete task "+ctr.ID(), err)
		}
		note("delete container "+ctr.ID(), ctr.Delete(ctx, client.WithSnapshotCleanup))
	}
	for p := range nsPaths {
		unmountAndRemove(p)
	}
	removeAllSnapshots(ctx, c.SnapshotService(snapshotter))
	imgs, err := c.ImageService().List(ctx)
	note("list images", err)
	for _, img := range imgs {
		note("delete image "+img.Name, c.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()))
	}
	ls, err := c.LeasesService().List(ctx)
	note("list leases", err)
	for _, l := range ls {
		note("delete lease "+l.ID, c.LeasesService().Delete(ctx, l))
	}
	cs := c.ContentStore()
	_ = cs.Walk(ctx, func(info content.Info) error {
		note("delete content "+info.Digest.String(), cs.Delete(ctx, info.Digest))
		return nil
	})
	note("delete namespace", c.NamespaceService().Delete(ctx, testNamespace))
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// cleanHost unmounts whatever is still mounted below the harness directory
// and removes the test cgroup root in every hierarchy.
func (x *harness) cleanHost() {
	mounts, _ := mountPoints()
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		if strings.HasPrefix(m, x.dir+"/") {
			_ = unix.Unmount(m, unix.MNT_DETACH)
		}
	}
	_ = cgroups.RemovePath("/" + cgroupRoot)
}

// cgroupRootDirs returns <hierarchy>/<cgroupRoot> for every cgroup hierarchy
// where it exists (v1 controllers, the v1 hybrid's unified tree, pure v2).
func cgroupRootDirs() []string {
	var out []string
	cands := []string{filepath.Join("/sys/fs/cgroup", cgroupRoot)}
	if ents, err := os.ReadDir("/sys/fs/cgroup"); err == nil {
		for _, e := range ents {
			cands = append(cands, filepath.Join("/sys/fs/cgroup", e.Name(), cgroupRoot))
		}
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			out = append(out, c)
		}
	}
	return out
}

// cgroupDirsContaining returns the directories below the test cgroup root, in
// every hierarchy, whose name contains s.
func cgroupDirsContaining(s string) []string {
	var out []string
	for _, root := range cgroupRootDirs() {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.Contains(d.Name(), s) {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// mountPoints lists the mount points of /proc/self/mountinfo.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isMounted(path string) bool {
	mounts, _ := mountPoints()
	for _, m := range mounts {
		if m == path {
			return true
		}
	}
	return false
}

func unmountAndRemove(p string) {
	for isMounted(p) {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			break
		}
	}
	_ = os.Remove(p)
	_ = os.Remove(filepath.Dir(p)) // the per-pod directory, if now empty
}

// removeAllSnapshots removes every snapshot of a namespace, leaves first,
// until nothing more goes away.
func removeAllSnapshots(ctx context.Context, sn snapshots.Snapshotter) {
	for range 10 {
		var keys []string
		_ = sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
			keys = append(keys, info.Name)
			return nil
		})
		if len(keys) == 0 {
			return
		}
		for _, k := range keys {
			_ = sn.Remove(ctx, k)
		}
	}
}
