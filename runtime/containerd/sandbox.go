package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/miniagent/miniagent/cgroups"
	"github.com/miniagent/miniagent/runtime"
)

// CreateSandbox creates the pod's network namespace (loopback up) and IPC
// namespace and bind-mounts them under StateDir/<pod uid>/{net,ipc}.
// HostNetwork and HostIPC leave the respective path empty. Namespaces that
// are already mounted are reused, so the call is idempotent per PodUID.
func (r *Runtime) CreateSandbox(ctx context.Context, cfg runtime.SandboxConfig) (runtime.Sandbox, error) {
	sb := runtime.Sandbox{PodUID: cfg.PodUID, CgroupParent: cfg.CgroupParent}
	dir, err := r.sandboxDir(cfg.PodUID)
	if err != nil {
		return sb, err
	}
	if cfg.HostNetwork && cfg.HostIPC {
		return sb, nil
	}
	r.sandboxMu.Lock()
	defer r.sandboxMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sb, fmt.Errorf("create sandbox of pod %s: %w", cfg.PodUID, err)
	}
	var flags int
	netPath, ipcPath := filepath.Join(dir, "net"), filepath.Join(dir, "ipc")
	if !cfg.HostNetwork {
		sb.NetNSPath = netPath
		if !isNSMount(netPath) {
			flags |= unix.CLONE_NEWNET
		}
	}
	if !cfg.HostIPC {
		sb.IPCNSPath = ipcPath
		if !isNSMount(ipcPath) {
			flags |= unix.CLONE_NEWIPC
		}
	}
	if flags == 0 {
		return sb, nil
	}
	if err := makeNamespaces(flags, netPath, ipcPath); err != nil {
		return sb, fmt.Errorf("create sandbox of pod %s: %w", cfg.PodUID, err)
	}
	return sb, nil
}

// RemoveSandbox unmounts and deletes the pod's namespaces and removes its
// cgroup directory in every hierarchy. Missing pieces are not an error.
func (r *Runtime) RemoveSandbox(ctx context.Context, sb runtime.Sandbox) error {
	dir, err := r.sandboxDir(sb.PodUID)
	if err != nil {
		return err
	}
	r.sandboxMu.Lock()
	defer r.sandboxMu.Unlock()
	var errs []error
	for _, p := range []string{filepath.Join(dir, "net"), filepath.Join(dir, "ipc"), sb.NetNSPath, sb.IPCNSPath} {
		if p == "" {
			continue
		}
		if err := unmountAndRemove(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if sb.CgroupParent != "" {
		if err := cgroups.RemovePath(sb.CgroupParent); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove sandbox of pod %s: %w", sb.PodUID, err)
	}
	return nil
}

func (r *Runtime) sandboxDir(podUID string) (string, error) {
	if podUID == "" || podUID == "." || podUID == ".." || strings.ContainsAny(podUID, "/\x00") {
		return "", fmt.Errorf("invalid pod UID %q", podUID)
	}
	return filepath.Join(r.opts.StateDir, podUID), nil
}

// isNSMount reports whether path is a mounted namespace file (nsfs).
func isNSMount(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

func unmountAndRemove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// makeNamespaces creates the namespaces in flags (CLONE_NEWNET, CLONE_NEWIPC)
// on a locked OS thread and bind-mounts them at netPath / ipcPath. The
// thread then returns to its original namespaces; if that fails it stays
// locked, so the Go runtime retires it instead of reusing it. (The thread
// may be the main thread, whose namespaces /proc/self shows.)
func makeNamespaces(flags int, netPath, ipcPath string) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		restored := false
		defer func() {
			if restored {
				goruntime.UnlockOSThread()
			}
		}()
		orig, err := openThreadNS(flags)
		if err != nil {
			restored = true // nothing changed yet
			errc <- err
			return
		}
		defer func() {
			for _, f := range orig {
				f.Close()
			}
		}()
		err = unshareAndMount(flags, netPath, ipcPath)
		restored = restoreThreadNS(orig) == nil
		errc <- err
	}()
	return <-errc
}

// openThreadNS opens the calling thread's current namespaces named in flags.
func openThreadNS(flags int) (map[int]*os.File, error) {
	out := map[int]*os.File{}
	tid := unix.Gettid()
	for flag, name := range map[int]string{unix.CLONE_NEWNET: "net", unix.CLONE_NEWIPC: "ipc"} {
		if flags&flag == 0 {
			continue
		}
		f, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/%s", tid, name))
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("open current %s namespace: %w", name, err)
		}
		out[flag] = f
	}
	return out, nil
}

func restoreThreadNS(orig map[int]*os.File) error {
	var errs []error
	for flag, f := range orig {
		if err := unix.Setns(int(f.Fd()), flag); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func unshareAndMount(flags int, netPath, ipcPath string) error {
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare namespaces: %w", err)
	}
	tid := unix.Gettid()
	if flags&unix.CLONE_NEWNET != 0 {
		if err := loopbackUp(); err != nil {
			return err
		}
		if err := bindNS(fmt.Sprintf("/proc/self/task/%d/ns/net", tid), netPath); err != nil {
			return err
		}
	}
	if flags&unix.CLONE_NEWIPC != 0 {
		if err := bindNS(fmt.Sprintf("/proc/self/task/%d/ns/ipc", tid), ipcPath); err != nil {
			return err
		}
	}
	return nil
}

// bindNS bind-mounts the namespace file src onto target (created if needed).
func bindNS(src, target string) error {
	f, err := os.OpenFile(target, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return fmt.Errorf("create namespace file: %w", err)
	}
	f.Close()
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		os.Remove(target)
		return fmt.Errorf("bind mount %s on %s: %w", src, target, err)
	}
	return nil
}

// loopbackUp sets IFF_UP on "lo" in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback up: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: set flags: %w", err)
	}
	return nil
}
