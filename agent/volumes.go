package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/agent/apivolume"
	"github.com/miniagent/miniagent/runtime"
)

// podDir is the pod's directory: its files and volumes.
func (a *Agent) podDir(pod *v1.Pod) string {
	return filepath.Join(a.opts.RootDir, "pods", string(pod.UID))
}

// volumeDir is where the emptyDir volumes of a pod live.
func (a *Agent) volumeDir(pod *v1.Pod) string {
	return filepath.Join(a.podDir(pod), "volumes", "kubernetes.io~empty-dir")
}

// mountError is a volume that could not be set up: the pod waits in
// ContainerCreating and the kubelet's FailedMount event says why.
type mountError struct{ err error }

func (e *mountError) Error() string { return e.err.Error() }
func (e *mountError) Unwrap() error { return e.err }

// ReasonFailedMount is the kubelet's event reason of a volume that could
// not be set up.
const ReasonFailedMount = "FailedMount"

// setupAPIVolumes writes the pod's configMap, secret, downwardAPI and
// projected volumes through Options.APIVolumes (see APIVolumes).
func (a *Agent) setupAPIVolumes(ctx context.Context, pod *v1.Pod) error {
	if !apivolume.HasAPIVolumes(pod) {
		return nil
	}
	if a.opts.APIVolumes == nil {
		for i := range pod.Spec.Volumes {
			if v := &pod.Spec.Volumes[i]; apivolume.IsAPIVolume(v) {
				return &mountError{fmt.Errorf("MountVolume.SetUp failed for volume %q : its content comes from an API server and this agent has none", v.Name)}
			}
		}
		return nil
	}
	if err := a.opts.APIVolumes.SetUp(ctx, pod, a.podDir(pod)); err != nil {
		return &mountError{err}
	}
	return nil
}

// setupVolumes creates the pod's emptyDirs (tmpfs for medium Memory), owned
// by group fsGroup if the pod has one (see setupEmptyDir), its API volumes
// and its resolv.conf and hosts files.
func (a *Agent) setupVolumes(ctx context.Context, pod *v1.Pod) error {
	if err := a.writePodFiles(pod); err != nil {
		return err
	}
	if err := a.setupAPIVolumes(ctx, pod); err != nil {
		return err
	}
	var fsGroup *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil {
			continue
		}
		if err := setupEmptyDir(filepath.Join(a.volumeDir(pod), v.Name), v.EmptyDir, fsGroup); err != nil {
			return fmt.Errorf("emptyDir %q: %w", v.Name, err)
		}
	}
	return nil
}

// isMountPoint tells whether dir is mounted on (its device differs from its parent's).
func isMountPoint(dir string) bool {
	var st, pst unix.Stat_t
	if unix.Stat(dir, &st) != nil || unix.Stat(filepath.Dir(dir), &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev
}

// removeVolumes stops the refresh of the pod's API volumes, then unmounts
// and deletes all its volumes (every plugin's directory).
func (a *Agent) removeVolumes(pod *v1.Pod) error {
	if a.opts.APIVolumes != nil {
		a.opts.APIVolumes.TearDown(pod.UID)
	}
	base := a.podDir(pod)
	vols, _ := filepath.Glob(filepath.Join(base, "volumes", "*", "*"))
	for _, dir := range vols {
		if isMountPoint(dir) {
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %w", dir, err)
			}
		}
	}
	return os.RemoveAll(base)
}

// removePodLogs deletes /var/log/pods/<ns>_<name>_<uid>.
func (a *Agent) removePodLogs(pod *v1.Pod) {
	if err := os.RemoveAll(a.podLogDir(pod)); err != nil {
		a.log.Warn("remove pod logs", "pod", podFullName(pod), "err", err)
	}
}

// containerMounts resolves a container's volumeMounts into runtime mounts,
// checking hostPath types as kubelet does.
func (a *Agent) containerMounts(pod *v1.Pod, c *v1.Container) ([]runtime.Mount, error) {
	vols := map[string]*v1.Volume{}
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	var out []runtime.Mount
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q of volumeMount %q not found", vm.Name, vm.MountPath)
		}
		var src string
		api := apivolume.IsAPIVolume(v)
		switch {
		case api:
			// The kubelet mounts these read-only, whatever the volumeMount says.
			vm.ReadOnly = true
			src = apivolume.Dir(a.podDir(pod), v)
		case v.EmptyDir != nil:
			src = filepath.Join(a.volumeDir(pod), v.Name)
		case v.HostPath != nil:
			if err := checkHostPath(v.HostPath); err != nil {
				return nil, fmt.Errorf("hostPath volume %q: %w", v.Name, err)
			}
			src = v.HostPath.Path
		default:
			return nil, fmt.Errorf("volume %q: unsupported volume type", v.Name)
		}
		switch {
		case vm.SubPath != "" && api:
			// A file or directory of the payload: the path through "..data"
			// as it is now (the kubelet's subPath does not follow updates).
			p, err := resolveIn(src, vm.SubPath)
			if err != nil {
				return nil, fmt.Errorf("subPath %q of volume %q: %w", vm.SubPath, v.Name, err)
			}
			src = p
		case vm.SubPath != "":
			src = filepath.Join(src, vm.SubPath)
			if err := os.MkdirAll(src, 0o777); err != nil {
				return nil, fmt.Errorf("subPath %q: %w", vm.SubPath, err)
			}
		}
		opts := mountOptions(vm, recursiveReadOnlySupported())
		out = append(out, runtime.Mount{Source: src, Destination: vm.MountPath, Type: "bind", Options: opts})
	}
	files, err := a.podFileMounts(pod, c)
	if err != nil {
		return nil, err
	}
	return append(out, files...), nil
}

// resolveIn resolves sub below dir, symlinks followed, refusing a result
// outside dir.
func resolveIn(dir, sub string) (string, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	p, err := filepath.EvalSymlinks(filepath.Join(dir, sub))
	if err != nil {
		return "", err
	}
	if rel, err := filepath.Rel(root, p); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("resolves outside the volume")
	}
	return p, nil
}

// checkHostPath applies a hostPath volume's type check, creating what the
// *OrCreate types ask for.
func checkHostPath(hp *v1.HostPathVolumeSource) error {
	t := v1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	fi, err := os.Stat(hp.Path)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	switch t {
	case v1.HostPathUnset:
		return nil
	case v1.HostPathDirectoryOrCreate:
		if !exists {
			return os.MkdirAll(hp.Path, 0o755)
		}
		if !fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", hp.Path)
		}
	case v1.HostPathDirectory:
		if !exists || !fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", hp.Path)
		}
	case v1.HostPathFileOrCreate:
		if !exists {
			if err := os.MkdirAll(filepath.Dir(hp.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(hp.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		if fi.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", hp.Path)
		}
	case v1.HostPathFile:
		if !exists || !fi.Mode().IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", hp.Path)
		}
	case v1.HostPathSocket:
		if !exists || fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", hp.Path)
		}
	case v1.HostPathCharDev:
		if !exists || fi.Mode()&os.ModeCharDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", hp.Path)
		}
	case v1.HostPathBlockDev:
		if !exists || fi.Mode()&os.ModeDevice == 0 || fi.Mode()&os.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", hp.Path)
		}
	}
	return nil
}
