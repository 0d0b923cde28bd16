package containerd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A containerd killed while it starts a task can leave the task's shim
// running with containerd knowing nothing of it: the shim was spawned and
// wrote its bundle, the task was never recorded, and containerd's restart
// did not re-adopt it. Nothing in containerd's API reaches such a shim, so
// the runtime ends it itself when the container goes: the shim, what runs
// below it (the container's init, the log process), and its bundle.

// shimProc is a running shim of this runtime's namespace and daemon.
type shimProc struct {
	pid    int
	id     string
	bundle string
}

// findShims lists the runc v2 shims serving container id in this runtime's
// containerd namespace, started by the daemon at this runtime's address.
func (r *Runtime) findShims(id string) []shimProc {
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
		if flags["namespace"] != r.opts.Namespace || flags["id"] != id || flags["address"] != r.opts.Address {
			continue
		}
		bundle, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		out = append(out, shimProc{pid: pid, id: id, bundle: bundle})
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

// reapShims ends the shims of container id that containerd no longer
// knows, with everything below them, and removes their bundles.
func (r *Runtime) reapShims(id string) error {
	var errs []error
	for _, s := range r.findShims(id) {
		for _, p := range append(descendants(s.pid), s.pid) {
			if err := syscall.Kill(p, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, err)
			}
		}
		// The bundle is the shim's working directory, below containerd's
		// task state directory; its rootfs may still be mounted.
		if s.bundle == "" || filepath.Base(s.bundle) != id || !strings.Contains(s.bundle, "io.containerd.runtime.v2.task") {
			continue
		}
		_ = unix.Unmount(filepath.Join(s.bundle, "rootfs"), unix.MNT_DETACH)
		if err := os.RemoveAll(s.bundle); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
