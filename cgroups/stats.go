package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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
	b, err := readStatFile(filepath.Join(dir, usageFile))
	if err != nil {
		return MemoryStats{}, fmt.Errorf("memory usage: %w", err)
	}
	usage, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return MemoryStats{}, fmt.Errorf("memory usage in %s: %w", dir, err)
	}
	st := MemoryStats{Usage: usage}
	if b, err := readStatFile(filepath.Join(dir, "memory.stat")); err == nil {
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

// CPUUsage reads the cgroup's cumulative CPU time in nanoseconds:
// cpuacct.usage (v1) or cpu.stat's usage_usec × 1000 (v2), as cAdvisor does.
func (m *fsManager) CPUUsage(p string) (uint64, error) {
	if m.version == 2 {
		return readCPUStatV2(filepath.Join(m.dir("cpu", p), "cpu.stat"))
	}
	b, err := readStatFile(filepath.Join(m.dir("cpuacct", p), "cpuacct.usage"))
	if err != nil {
		return 0, fmt.Errorf("cpu usage: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cpu usage of %s: %w", p, err)
	}
	return n, nil
}

func readCPUStatV2(file string) (uint64, error) {
	b, err := readStatFile(file)
	if err != nil {
		return 0, fmt.Errorf("cpu usage: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == "usage_usec" {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cpu usage in %s: %w", file, err)
			}
			return n * 1000, nil
		}
	}
	return 0, fmt.Errorf("cpu usage: no usage_usec in %s", file)
}

// CPUSample is one reading of a cgroup's cumulative CPU time.
type CPUSample struct {
	At    time.Time
	Usage uint64 // nanoseconds
}

// CPURate is the CPU use between two samples in nanocores (1e9 = one
// core busy), as cAdvisor and kubelet's summary API compute usageNanoCores.
// ok is false when the samples cannot give a rate: no time between them,
// or a counter that went back (the cgroup was made again).
func CPURate(prev, cur CPUSample) (nanoCores uint64, ok bool) {
	dt := cur.At.Sub(prev.At)
	if dt <= 0 || cur.Usage < prev.Usage {
		return 0, false
	}
	return uint64(float64(cur.Usage-prev.Usage) / dt.Seconds()), true
}

// readStatFile reads a small cgroup file with plain system calls. Through
// os.ReadFile each read also went through the runtime's poller (cgroupfs
// files can be polled: an epoll_ctl to add and one to remove) and a stat:
// seven system calls where three do; the stats sampler reads one file per
// container every statsPeriod.
func readStatFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == unix.EINTR:
		case err != nil:
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return buf, nil
		default:
			buf = buf[:len(buf)+n]
		}
	}
}
