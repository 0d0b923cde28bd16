package oom

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Where the kernel keeps a memory cgroup's OOM kill counter, relative to the
// cgroup's directory: cgroup v1's memory.oom_control and cgroup v2's
// memory.events both have an "oom_kill N" line.
const (
	v1ControlFile = "memory.oom_control"
	v2EventsFile  = "memory.events"
)

// Counters reads OOM kill counters of cgroups. Root is the cgroup mount
// directory (/sys/fs/cgroup, or a fake one in tests): a cgroup path p is
// looked up at Root/memory/p (v1) and Root/p (v2, or the unified mount).
type Counters struct {
	Root string
}

// DefaultCounters reads the host's cgroup filesystem.
var DefaultCounters = Counters{Root: "/sys/fs/cgroup"}

// OOMKills returns the oom_kill counter of the memory cgroup at path (e.g.
// /miniagent/burstable/pod<uid>/<id>).
//
// On cgroup v1 the kernel counts a kill in the victim's own memory cgroup,
// whichever ancestor's limit (container, pod, or the top-level pods cgroup)
// ran out: checked on this project's Debian 12 machines, a process killed
// because its pod-level cgroup hit memory.limit_in_bytes shows oom_kill 1 in
// its container cgroup and 0 in the pod cgroup and in its siblings.
func (c Counters) OOMKills(path string) (uint64, error) {
	var firstErr error
	for _, f := range []string{
		filepath.Join(c.Root, "memory", path, v1ControlFile),
		filepath.Join(c.Root, path, v2EventsFile),
	} {
		data, err := os.ReadFile(f)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		n, ok := flatKey(string(data), "oom_kill")
		if !ok {
			return 0, fmt.Errorf("%s: no oom_kill counter", f)
		}
		return n, nil
	}
	return 0, fmt.Errorf("read oom_kill counter of cgroup %s: %w", path, firstErr)
}

// Killed reports whether the kernel's OOM killer killed a process of the
// cgroup at path more times than before (the counter read at the instance's
// start; 0 for a fresh cgroup). An unreadable counter is not a kill.
func (c Counters) Killed(path string, before uint64) bool {
	n, err := c.OOMKills(path)
	return err == nil && n > before
}

// KilledInCgroup reports whether any of the cgroups at paths on the host saw
// an OOM kill (counter > 0). Every container instance gets a fresh cgroup,
// so a counter above zero means one of its processes was killed.
func KilledInCgroup(paths ...string) bool {
	for _, p := range paths {
		if DefaultCounters.Killed(p, 0) {
			return true
		}
	}
	return false
}

// flatKey finds "key N" in a flat-keyed cgroup file.
func flatKey(data, key string) (uint64, bool) {
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
