package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/miniagent/miniagent/runtime"
)

// leftoverScope names everything one daemon owns.
type leftoverScope struct {
	Address    string // containerd socket
	Namespace  string // containerd namespace
	CgroupRoot string // the daemon's --cgroup-root
	RootDir    string // --root-dir: checkpoints/, pods/ (volumes), ns/, logspool/
	StateDir   string // the runtime's netns/ipc bind mounts (<root-dir>/ns)
	LogsDir    string // --pod-logs-dir
	// ContainerdState is containerd's state directory (task bundles and
	// rootfs mounts live under io.containerd.runtime.v2.task/<namespace>);
	// "" means /run/containerd.
	ContainerdState string
}

// listLeftovers lists, one human-readable line each, everything a pod of
// the scope can leave behind: containers, tasks and active snapshots in the
// namespace; shims of the namespace and their log processes; mounts under
// the daemon's directories and containerd's task directory; pod cgroups in
// every hierarchy; netns/ipc files; checkpoints; pod volume and log
// directories; task bundles. A scope it cannot inspect is a line too.
func listLeftovers(s leftoverScope) []string {
	var out []string
	out = append(out, containerdLeftovers(s)...)
	out = append(out, processLeftovers(s)...)
	out = append(out, mountLeftovers(s)...)
	out = append(out, cgroupLeftovers(s.CgroupRoot)...)
	state := s.ContainerdState
	if state == "" {
		state = "/run/containerd"
	}
	for _, d := range []struct{ what, dir string }{
		{"netns/ipc state", s.StateDir},
		{"checkpoint", filepath.Join(s.RootDir, "checkpoints")},
		{"pod volume directory", filepath.Join(s.RootDir, "pods")},
		{"container log spool", filepath.Join(s.RootDir, "logspool")},
		{"container stdin FIFO", filepath.Join(s.RootDir, "stdin")},
		{"pod log directory", s.LogsDir},
		{"containerd task bundle", filepath.Join(state, "io.containerd.runtime.v2.task", s.Namespace)},
	} {
		out = append(out, dirEntries(d.what, d.dir)...)
	}
	return out
}

func containerdLeftovers(s leftoverScope) []string {
	c, err := client.New(s.Address, client.WithTimeout(5*time.Second))
	if err != nil {
		return []string{fmt.Sprintf("cannot inspect containerd at %s: %v", s.Address, err)}
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), s.Namespace), 30*time.Second)
	defer cancel()
	var out []string
	list, err := c.Containers(ctx)
	if err != nil {
		out = append(out, fmt.Sprintf("cannot list containers of %s: %v", s.Namespace, err))
	}
	for _, ctr := range list {
		desc := ctr.ID()
		if info, err := ctr.Info(ctx); err == nil {
			desc = fmt.Sprintf("%s (pod %s/%s uid %s, container %s, attempt %s)", ctr.ID(),
				info.Labels[runtime.LabelPodNamespace], info.Labels[runtime.LabelPodName],
				info.Labels[runtime.LabelPodUID], info.Labels[runtime.LabelContainerName], info.Labels[runtime.LabelAttempt])
		}
		out = append(out, "containerd container "+desc)
	}
	tasks, err := c.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err != nil {
		out = append(out, fmt.Sprintf("cannot list tasks of %s: %v", s.Namespace, err))
	} else {
		for _, tk := range tasks.Tasks {
			out = append(out, fmt.Sprintf("containerd task %s (pid %d, %s)", tk.ID, tk.Pid, tk.Status))
		}
	}
	err = c.SnapshotService(snapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind != snapshots.KindCommitted { // committed ones are image layers
			out = append(out, fmt.Sprintf("%s snapshot %s", info.Kind, info.Name))
		}
		return nil
	})
	if err != nil {
		out = append(out, fmt.Sprintf("cannot list snapshots of %s: %v", s.Namespace, err))
	}
	return out
}

// proc is one process of /proc.
type proc struct {
	pid, ppid int
	argv      []string
}

func (p proc) String() string { return fmt.Sprintf("pid %d: %s", p.pid, strings.Join(p.argv, " ")) }

// processes lists every process with a readable command line.
func processes() []proc {
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		p := proc{pid: pid, argv: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
				if f := strings.Fields(string(stat[i+1:])); len(f) > 1 {
					p.ppid, _ = strconv.Atoi(f[1])
				}
			}
		}
		out = append(out, p)
	}
	return out
}

// isShimOf reports whether p is a containerd shim of namespace ns.
func isShimOf(p proc, ns string) bool {
	if !strings.HasPrefix(filepath.Base(p.argv[0]), "containerd-shim") {
		return false
	}
	for i, a := range p.argv {
		if (a == "-namespace" || a == "--namespace") && i+1 < len(p.argv) && p.argv[i+1] == ns {
			return true
		}
		if a == "-namespace="+ns || a == "--namespace="+ns {
			return true
		}
	}
	return false
}

// isLogProcess reports whether p is a miniagent log process
// (miniagent-crilog, or `miniagent crilog-shim`).
func isLogProcess(p proc) bool {
	if filepath.Base(p.argv[0]) == "miniagent-crilog" {
		return true
	}
	return len(p.argv) > 1 && p.argv[1] == "crilog-shim"
}

// processLeftovers: the namespace's shims, and log processes that are a
// shim's child or write below the pod logs dir (orphans reparented to init).
func processLeftovers(s leftoverScope) []string {
	procs := processes()
	shims := map[int]bool{}
	var out []string
	for _, p := range procs {
		if isShimOf(p, s.Namespace) {
			shims[p.pid] = true
			out = append(out, "containerd shim "+p.String())
		}
	}
	for _, p := range procs {
		if !isLogProcess(p) {
			continue
		}
		ours := shims[p.ppid]
		for _, a := range p.argv[1:] {
			ours = ours || (s.LogsDir != "" && strings.HasPrefix(a, s.LogsDir+"/"))
		}
		if ours {
			out = append(out, "log process "+p.String())
		}
	}
	return out
}

// killShims sends SIGKILL to the shims of ns and their log processes.
func killShims(ns string) {
	procs := processes()
	shims := map[int]bool{}
	for _, p := range procs {
		if isShimOf(p, ns) {
			shims[p.pid] = true
		}
	}
	for _, p := range procs {
		if shims[p.pid] || (shims[p.ppid] && isLogProcess(p)) {
			if pr, err := os.FindProcess(p.pid); err == nil {
				_ = pr.Kill()
			}
		}
	}
}

func mountLeftovers(s leftoverScope) []string {
	mounts, err := mountPoints()
	if err != nil {
		return []string{"cannot read /proc/self/mountinfo: " + err.Error()}
	}
	state := s.ContainerdState
	if state == "" {
		state = "/run/containerd"
	}
	var prefixes []string
	for _, d := range []string{s.RootDir, s.StateDir, s.LogsDir, filepath.Join(state, "io.containerd.runtime.v2.task", s.Namespace)} {
		if d != "" {
			prefixes = append(prefixes, d+"/")
		}
	}
	var out []string
	for _, m := range mounts {
		for _, p := range prefixes {
			if strings.HasPrefix(m, p) {
				out = append(out, "mount "+m)
				break
			}
		}
	}
	return out
}

// cgroupLeftovers lists the pod* directories below <hierarchy>/<root> in
// every hierarchy (each v1 controller, the hybrid's unified tree, pure v2).
func cgroupLeftovers(root string) []string {
	cands := []string{filepath.Join("/sys/fs/cgroup", root)}
	if ents, err := os.ReadDir("/sys/fs/cgroup"); err == nil {
		for _, e := range ents {
			cands = append(cands, filepath.Join("/sys/fs/cgroup", e.Name(), root))
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, c := range cands {
		real, err := filepath.EvalSymlinks(c) // cpu and cpuacct link to cpu,cpuacct
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		_ = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "pod") {
				out = append(out, "cgroup "+p)
			}
			return nil
		})
	}
	sort.Strings(out)
	return out
}

// dirEntries lists what a directory holds, one line per entry.
func dirEntries(what, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil // missing: nothing left
	}
	var out []string
	for _, e := range ents {
		out = append(out, what+" "+filepath.Join(dir, e.Name()))
	}
	return out
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) {
	mounts, _ := mountPoints()
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		if strings.HasPrefix(m, dir+"/") {
			unmountAndRemove(m)
		}
	}
}
