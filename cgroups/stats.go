package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MemoryStats is a cgroup's memory use as kubelet's eviction manager sees
// it: WorkingSet = Usage - inactive file pages (never below zero).
type MemoryStats struct {
	Usage        int64
	InactiveFile int64
	WorkingSet   int64
}

// MemoryStats reads memory.usage_in_bytes and memory.stat's
// total_inactive_file (v1) or memory.current and inactive_file (v2).
func (m *fsManager) MemoryStats(p string) (MemoryStats, error) {
	dir := m.dir("memory", p)
	usageFile, statKey := "memory.usage_in_bytes", "total_inactive_file"
	if m.version == 2 {
		usageFile, statKey = "memory.current", "inactive_file"
	}
	return readMemoryStats(dir, usageFile, statKey)
}

func readMemoryStats(dir, usageFile, statKey string) (MemoryStats, error) {
	b, err := os.ReadFile(filepath.Join(dir, usageFile))
	if err != nil {
		return MemoryStats{}, fmt.Errorf("memory usage: %w", err)
	}
	usage, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return MemoryStats{}, fmt.Errorf("memory usage in %s: %w", dir, err)
	}
	st := MemoryStats{Usage: usage}
	if b, err := os.ReadFile(filepath.Join(dir, "memory.stat")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, " ")
			if ok && k == statKey {
				st.InactiveFile, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				break
			}
		}
	}
	st.WorkingSet = WorkingSet(st.Usage, st.InactiveFile)
	return st, nil
}

// WorkingSet is kubelet's working set: usage minus inactive file pages,
// zero when inactive file exceeds usage.
func WorkingSet(usage, inactiveFile int64) int64 {
	if inactiveFile >= usage {
		return 0
	}
	return usage - inactiveFile
}
