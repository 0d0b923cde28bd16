package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/runtime"
)

// The node's files the pod's resolv.conf and hosts are made from (the
// kubelet's --resolv-conf default and the node's /etc/hosts).
var (
	nodeResolvConf = "/etc/resolv.conf"
	nodeHostsFile  = "/etc/hosts"
)

// podFile is a file the agent writes for a pod and mounts into its containers.
type podFile struct {
	name, target string
	content      func(pod *v1.Pod, node []byte) []byte
	node         *string // the node's file it is made from
}

var podFiles = []podFile{
	{"resolv.conf", "/etc/resolv.conf", podResolvConf, &nodeResolvConf},
	{"etc-hosts", "/etc/hosts", podHostsFile, &nodeHostsFile},
}

// writePodFiles writes the pod's resolv.conf and hosts files below its
// directory, from the node's files (a missing one counts as empty).
func (a *Agent) writePodFiles(pod *v1.Pod) error {
	dir := filepath.Join(a.opts.RootDir, "pods", string(pod.UID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range podFiles {
		node, err := os.ReadFile(*f.node)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pod %s: %w", f.name, err)
		}
		path := filepath.Join(dir, f.name)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, f.content(pod, node), 0o644); err != nil {
			return fmt.Errorf("pod %s: %w", f.name, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("pod %s: %w", f.name, err)
		}
	}
	return nil
}

// podFileMounts bind-mounts the pod's resolv.conf and hosts into container
// c, read-only with a read-only root filesystem as with the CRI, except
// where c mounts a volume at that path. Files that are gone (an agent
// restarted without its pod directory) are written again first.
func (a *Agent) podFileMounts(pod *v1.Pod, c *v1.Container) ([]runtime.Mount, error) {
	dir := filepath.Join(a.opts.RootDir, "pods", string(pod.UID))
	mode := "rw"
	if sc := c.SecurityContext; sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		mode = "ro"
	}
	var out []runtime.Mount
	for _, f := range podFiles {
		if mountsAt(c, f.target) {
			continue
		}
		src := filepath.Join(dir, f.name)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			if err := a.writePodFiles(pod); err != nil {
				return nil, err
			}
		}
		out = append(out, runtime.Mount{Source: src, Destination: f.target, Type: "bind", Options: []string{"rbind", mode}})
	}
	return out, nil
}

func mountsAt(c *v1.Container, target string) bool {
	for _, vm := range c.VolumeMounts {
		if filepath.Clean(vm.MountPath) == target {
			return true
		}
	}
	return false
}
