package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// memoryMount is where the cgroup v1 memory hierarchy is mounted.
const memoryMount = "/sys/fs/cgroup/memory"

// flatValue returns the value of key in a flat-keyed cgroup file ("key N"
// per line, as memory.oom_control and memory.stat are).
func flatValue(data, key string) (uint64, bool) {
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || k != key {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// oomKills reads the oom_kill counter of the memory cgroup directory dir.
func oomKills(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return 0, err
	}
	n, ok := flatValue(string(b), "oom_kill")
	if !ok {
		return 0, fmt.Errorf("%s/memory.oom_control has no oom_kill counter (kernel older than 4.13?)", dir)
	}
	return n, nil
}

// workingSet is cAdvisor's (and so kubelet's) working set of a cgroup v1
// memory cgroup: usage minus total_inactive_file, never below zero.
func workingSet(usage uint64, stat string) (int64, error) {
	inactive, ok := flatValue(stat, "total_inactive_file")
	if !ok {
		return 0, errors.New("memory.stat has no total_inactive_file")
	}
	if inactive >= usage {
		return 0, nil
	}
	return int64(usage - inactive), nil
}

// readWorkingSet reads the working set of the memory cgroup directory dir.
func readWorkingSet(dir string) (int64, error) {
	u, err := os.ReadFile(filepath.Join(dir, "memory.usage_in_bytes"))
	if err != nil {
		return 0, err
	}
	usage, err := strconv.ParseUint(strings.TrimSpace(string(u)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s/memory.usage_in_bytes: %w", dir, err)
	}
	st, err := os.ReadFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, err
	}
	return workingSet(usage, string(st))
}

// readLimit reads memory.limit_in_bytes of the memory cgroup directory dir.
func readLimit(dir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes"))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// findCgroup returns the directory under root whose name is id (a
// container's cgroup is named after its containerd ID, whatever the pod
// and QoS levels above it are called).
func findCgroup(root, id string) (string, error) {
	var found string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != root {
				return nil // a pod cgroup removed while walking
			}
			return err
		}
		if d.IsDir() && d.Name() == id {
			found = p
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("look for cgroup %s under %s: %w", id, root, err)
	}
	if found == "" {
		return "", fmt.Errorf("no cgroup %s under %s", id, root)
	}
	return found, nil
}
