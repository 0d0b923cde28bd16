package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	cg "github.com/containerd/cgroups/v3"
	v1 "k8s.io/api/core/v1"
)

// Manager owns the pod cgroup tree under the top-level pods cgroup:
//
//	/<root>                     top: node allocatable (EnsureTop)
//	/<root>/pod<uid>            Guaranteed pods
//	/<root>/burstable           shares = sum of Burstable pods' cpu requests (UpdateQoS)
//	/<root>/burstable/pod<uid>
//	/<root>/besteffort          shares 2
//	/<root>/besteffort/pod<uid>
//
// Container cgroups (<pod path>/<container id>) are created by runc.
type Manager interface {
	// Version is 1 (v1 or hybrid layout) or 2 (unified).
	Version() int
	// TopPath is the top-level pods cgroup, e.g. /miniagent.
	TopPath() string
	// EnsureTop creates the top-level and QoS cgroups and sets the top's
	// values from alloc. Call it once at start-up and whenever alloc changes.
	EnsureTop(alloc NodeAllocatable) error
	// EnsurePod creates the pod's cgroup with PodValues(pod) and returns its
	// path (the containers' cgroup parent).
	EnsurePod(pod *v1.Pod) (string, error)
	// UpdateQoS sets the QoS cgroups' shares from the pods admitted now.
	UpdateQoS(pods []*v1.Pod) error
	// RemovePod removes the pod's cgroup in every hierarchy.
	RemovePod(pod *v1.Pod) error
	// ConfigureContainer applies kubelet's container-level extras to a
	// container cgroup that runc created (v2: memory.oom.group=1; v1: none).
	ConfigureContainer(containerPath string) error
	// MemoryStats reads usage and working set of the cgroup at path.
	MemoryStats(path string) (MemoryStats, error)
	// CPUUsage reads the cumulative CPU time (ns) of the cgroup at path.
	CPUUsage(path string) (uint64, error)
}

// Option configures NewManager.
type Option func(*fsManager)

// WithFakeRoot makes the manager work below dir instead of the host's
// /sys/fs/cgroup: for v1, dir/<controller>/...; for v2, dir/... . Files are
// written as plain files; nothing checks them like the kernel would.
func WithFakeRoot(dir string, version int) Option {
	return func(m *fsManager) {
		m.mount = dir
		m.version = version
		m.fake = true
	}
}

// v1Controllers are the hierarchies the manager creates pod cgroups in
// (runc adds the rest for containers; cpuset is left to runc, which
// initialises its cpus and mems).
var v1Controllers = []string{"cpu", "cpuacct", "memory", "pids"}

// v2Controllers are enabled in cgroup.subtree_control down the tree.
var v2Controllers = []string{"cpu", "memory", "pids"}

// NewManager returns the manager of the cgroup tree named root (e.g.
// "miniagent") on this host, cgroup v2 when the host is unified and v1
// otherwise (hybrid counts as v1), or over a fake root (WithFakeRoot).
func NewManager(root string, opts ...Option) (Manager, error) {
	root = strings.Trim(path.Clean("/"+root), "/")
	if root == "" || root == "." || strings.Contains(root, "..") {
		return nil, fmt.Errorf("cgroup root %q: must name a cgroup below the hierarchy root", root)
	}
	m := &fsManager{root: "/" + root, mount: "/sys/fs/cgroup"}
	for _, o := range opts {
		o(m)
	}
	if !m.fake {
		m.version = 1
		if cg.Mode() == cg.Unified {
			m.version = 2
		}
	}
	if m.version != 1 && m.version != 2 {
		return nil, fmt.Errorf("cgroup version %d: want 1 or 2", m.version)
	}
	return m, nil
}

type fsManager struct {
	root    string // /miniagent
	mount   string // /sys/fs/cgroup or a fake
	version int
	fake    bool
	mu      sync.Mutex // serialises tree changes
}

func (m *fsManager) Version() int    { return m.version }
func (m *fsManager) TopPath() string { return m.root }

// dir is the directory of cgroup p in controller's hierarchy.
func (m *fsManager) dir(controller, p string) string {
	if m.version == 2 {
		return filepath.Join(m.mount, p)
	}
	return filepath.Join(m.mount, controller, p)
}

// hierarchies are the mount points RemovePod cleans.
func (m *fsManager) hierarchies() ([]string, error) {
	if !m.fake {
		return Mounts()
	}
	if m.version == 2 {
		return []string{m.mount}, nil
	}
	entries, err := os.ReadDir(m.mount)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(m.mount, e.Name()))
		}
	}
	return out, nil
}

// ensure creates cgroup p (and its parents) and writes v into it.
func (m *fsManager) ensure(p string, v Values) error {
	if err := m.mkdir(p); err != nil {
		return err
	}
	files := V1Files(v)
	if m.version == 2 {
		files = V2Files(v)
	}
	return m.write(p, files)
}

func (m *fsManager) mkdir(p string) error {
	if m.version == 2 {
		return m.mkdirV2(p)
	}
	for _, c := range v1Controllers {
		base := filepath.Join(m.mount, c)
		if _, err := os.Stat(base); err != nil {
			if c == "cpu" || c == "memory" {
				return fmt.Errorf("cgroup v1 %s hierarchy: %w", c, err)
			}
			continue // an optional controller that is not mounted
		}
		if err := os.MkdirAll(filepath.Join(base, p), 0o755); err != nil {
			return fmt.Errorf("create cgroup %s in %s: %w", p, c, err)
		}
	}
	return nil
}

// mkdirV2 creates p level by level and enables the controllers in every
// ancestor's cgroup.subtree_control, which v2 needs before a child can set
// cpu or memory values.
func (m *fsManager) mkdirV2(p string) error {
	want := m.availableV2()
	cur := m.mount
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for _, part := range parts {
		if len(want) > 0 {
			if err := writeFile(filepath.Join(cur, "cgroup.subtree_control"), "+"+strings.Join(want, " +")); err != nil {
				return fmt.Errorf("enable controllers below %s: %w", cur, err)
			}
		}
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", p, err)
		}
	}
	return nil
}

// availableV2 is v2Controllers limited to those the hierarchy root offers
// (all of them when it does not tell).
func (m *fsManager) availableV2() []string {
	b, err := os.ReadFile(filepath.Join(m.mount, "cgroup.controllers"))
	if err != nil {
		return v2Controllers
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(string(b)) {
		have[c] = true
	}
	var out []string
	for _, c := range v2Controllers {
		if have[c] {
			out = append(out, c)
		}
	}
	return out
}

func (m *fsManager) write(p string, files []File) error {
	var errs []error
	for _, f := range files {
		if err := writeFile(filepath.Join(m.dir(f.Controller, p), f.Name), f.Value); err != nil {
			errs = append(errs, fmt.Errorf("set %s=%s on cgroup %s: %w", f.Name, f.Value, p, err))
		}
	}
	return errors.Join(errs...)
}

func writeFile(p, value string) error {
	return os.WriteFile(p, []byte(value), 0o644)
}

func (m *fsManager) EnsureTop(alloc NodeAllocatable) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ensure(m.root, alloc.TopValues()); err != nil {
		return err
	}
	if err := m.ensure(QOSPath(m.root[1:], v1.PodQOSBestEffort), BestEffortValues()); err != nil {
		return err
	}
	// The burstable cgroup exists from the start; UpdateQoS sets its shares.
	if err := m.mkdir(QOSPath(m.root[1:], v1.PodQOSBurstable)); err != nil {
		return err
	}
	return m.writeShares(QOSPath(m.root[1:], v1.PodQOSBurstable), MinShares)
}

func (m *fsManager) writeShares(p string, shares uint64) error {
	f := File{"cpu", "cpu.shares", fmt.Sprint(shares)}
	if m.version == 2 {
		f = File{"", "cpu.weight", fmt.Sprint(SharesToWeight(shares))}
	}
	return m.write(p, []File{f})
}

func (m *fsManager) podPath(pod *v1.Pod) string {
	return PodPath(m.root[1:], QOSClass(pod), string(pod.UID))
}

func (m *fsManager) EnsurePod(pod *v1.Pod) (string, error) {
	if pod.UID == "" {
		return "", fmt.Errorf("pod %s/%s has no UID", pod.Namespace, pod.Name)
	}
	p := m.podPath(pod)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ensure(p, PodValues(pod)); err != nil {
		return "", fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return p, nil
}

func (m *fsManager) UpdateQoS(pods []*v1.Pod) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(
		m.writeShares(QOSPath(m.root[1:], v1.PodQOSBurstable), BurstableValues(pods).CPUShares),
		m.writeShares(QOSPath(m.root[1:], v1.PodQOSBestEffort), MinShares),
	)
}

func (m *fsManager) RemovePod(pod *v1.Pod) error {
	mounts, err := m.hierarchies()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return RemovePathUnder(mounts, m.podPath(pod))
}

func (m *fsManager) ConfigureContainer(containerPath string) error {
	if m.version != 2 {
		return nil
	}
	return m.write(containerPath, V2ContainerFiles())
}
