package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"
)

// A containerd killed while it starts a task can leave the task's shim
// running with containerd knowing nothing of it: the shim was spawned and
// wrote its bundle, the task was never recorded, and containerd's restart
// did not re-adopt it. Nothing in containerd's API reaches such a shim, so
// the runtime ends it itself when the container goes.
//
// A pod's containers share one shim (ShimGroup). Its command line names
// only the task that started it (-id), it runs in that task's bundle
// directory, and every task it serves has a bundle whose address file
// names the shim's socket. A shim is ended, with what runs below it and the
// bundles of its tasks, only when containerd knows none of its tasks; one
// that still serves a known task is asked, over its own task API, to kill
// and delete the lost task only.

// shimProc is a running shim of this runtime's namespace and daemon.
type shimProc struct {
	pid     int
	id      string          // the task that started it (-id)
	dir     string          // containerd's task directory of the namespace, where the bundles are
	sockets map[string]bool // paths of the unix sockets it holds: its task API among them
}

// listShims lists the runc v2 shims of this runtime's containerd namespace,
// started by the daemon at this runtime's address.
func (r *Runtime) listShims() []shimProc {
	var out []shimProc
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		flags := map[string]string{}
		for i := 1; i+1 < len(args); i++ {
			if strings.HasPrefix(args[i], "-") {
				flags[strings.TrimLeft(args[i], "-")] = args[i+1]
			}
		}
		if flags["namespace"] != r.opts.Namespace || flags["id"] == "" || flags["address"] != r.opts.Address {
			continue
		}
		// The working directory is the first task's bundle. Once that task
		// is deleted it is gone: containerd renames a bundle to .<id>
		// before removing it, so the link reads ".../.<id> (deleted)".
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cwd = strings.TrimSuffix(cwd, " (deleted)")
		s := shimProc{pid: pid, id: flags["id"], sockets: unixSockets(pid)}
		if base := filepath.Base(cwd); cwd != "" && (base == s.id || base == "."+s.id) {
			s.dir = filepath.Dir(cwd)
		}
		out = append(out, s)
	}
	return out
}

// findShims lists the shims that serve (or were started for) task id.
func (r *Runtime) findShims(id string) []shimProc {
	var out []shimProc
	for _, s := range r.listShims() {
		if s.id == id || (s.dir != "" && s.sockets[bundleAddress(s.dir, id)]) {
			out = append(out, s)
		}
	}
	return out
}

// tasks lists the tasks s serves: the one that started it and every task
// whose bundle names its socket.
func (s shimProc) tasks() []string {
	out := []string{s.id}
	if s.dir == "" {
		return out
	}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if e.Name() != s.id && s.sockets[bundleAddress(s.dir, e.Name())] {
			out = append(out, e.Name())
		}
	}
	return out
}

// bundleAddress is the socket path in the address file of task id's
// bundle below dir, "" without one.
func bundleAddress(dir, id string) string {
	raw, err := os.ReadFile(filepath.Join(dir, id, "address"))
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(string(raw)), "unix://")
}

// unixSockets lists the paths of the bound unix sockets process pid holds.
func unixSockets(pid int) map[string]bool {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	out := map[string]bool{}
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "net", "unix"))
	if err != nil {
		return out
	}
	// Num RefCount Protocol Flags Type St Inode [Path]
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 8 && inodes[f[6]] && strings.HasPrefix(f[7], "/") {
			out[f[7]] = true
		}
	}
	return out
}

// descendants lists every process below pid.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

// reapShims ends what shims containerd no longer knows hold for task id:
// a shim none of whose tasks containerd knows is ended with everything
// below it, and its tasks' bundles removed; a shim that also serves a
// task containerd knows (another container of the pod) only has task id
// killed and deleted through its task API.
//
// A bundle without a shim goes too: containerd killed after it made the
// bundle and before the shim started leaves one that its restart keeps
// (the shim's delete, which containerd runs for it, fails without the
// runtime file a shim writes when it creates the task, and containerd
// keeps the bundle of a failed delete), as does one killed while it
// removed a bundle (renamed to .<id>, which its restart skips).
func (r *Runtime) reapShims(ctx context.Context, id string) error {
	if shims := r.findShims(id); len(shims) > 0 {
		known, err := r.knownTasks(ctx)
		if err != nil {
			return err
		}
		var errs []error
		for _, s := range shims {
			if err := reapShim(ctx, s, id, known); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	dir := r.taskDir()
	return errors.Join(removeBundle(dir, id), removeBundle(dir, "."+id))
}

// taskDir is containerd's directory of runc v2 task bundles of the
// runtime's namespace.
func (r *Runtime) taskDir() string {
	return filepath.Join(r.opts.ContainerdStateDir, "io.containerd.runtime.v2.task", r.opts.Namespace)
}

// knownTasks lists the IDs of the tasks containerd knows in the namespace.
func (r *Runtime) knownTasks(ctx context.Context) (map[string]bool, error) {
	resp, err := r.client.TaskService().List(r.ns(ctx), &tasks.ListTasksRequest{})
	if err != nil {
		return nil, classify(fmt.Errorf("list tasks: %w", err))
	}
	out := make(map[string]bool, len(resp.Tasks))
	for _, t := range resp.Tasks {
		out[t.ID] = true
	}
	return out, nil
}

// reapShim ends lost task id of shim s, known being the tasks containerd
// knows: the whole shim when it serves none of them.
func reapShim(ctx context.Context, s shimProc, id string, known map[string]bool) error {
	tasks := s.tasks()
	for _, t := range tasks {
		if t != id && known[t] {
			// Its task API is at the socket the known task's bundle
			// names (the lost task's bundle may be gone).
			if err := deleteFromShim(ctx, bundleAddress(s.dir, t), id); err != nil {
				return fmt.Errorf("shim %d (serves %s): end lost task %s: %w", s.pid, t, id, err)
			}
			return removeBundle(s.dir, id)
		}
	}
	var errs []error
	// The shim first, so it cannot act on its children's deaths.
	for _, p := range append([]int{s.pid}, descendants(s.pid)...) {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	for _, t := range tasks {
		if err := removeBundle(s.dir, t); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeBundle removes task id's bundle below dir, containerd's task
// directory of the namespace; its rootfs may still be mounted.
func removeBundle(dir, id string) error {
	if dir == "" || !strings.Contains(dir, "io.containerd.runtime.v2.task") {
		return nil
	}
	bundle := filepath.Join(dir, id)
	_ = unix.Unmount(filepath.Join(bundle, "rootfs"), unix.MNT_DETACH)
	if err := os.RemoveAll(bundle); err != nil {
		return err
	}
	return nil
}

// deleteFromShim kills task id in the shim whose task API listens at addr
// and deletes it there; a task the shim does not have is no error.
func deleteFromShim(ctx context.Context, addr, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		return err
	}
	c := ttrpc.NewClient(conn)
	defer c.Close()
	svc := taskapi.NewTTRPCTaskClient(c)
	gone := func(err error) bool { return errdefs.IsNotFound(errgrpc.ToNative(err)) }
	if _, err := svc.Kill(ctx, &taskapi.KillRequest{ID: id, Signal: uint32(syscall.SIGKILL), All: true}); err != nil && !gone(err) {
		return fmt.Errorf("kill: %w", err)
	}
	if _, err := svc.Wait(ctx, &taskapi.WaitRequest{ID: id}); err != nil && !gone(err) {
		return fmt.Errorf("wait: %w", err)
	}
	if _, err := svc.Delete(ctx, &taskapi.DeleteRequest{ID: id}); err != nil && !gone(err) {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}
