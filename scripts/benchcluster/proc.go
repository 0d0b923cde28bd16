package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc (USER_HZ, 100 on Linux
// whatever the kernel's HZ).
const userHZ = 100

// procStat is what this program needs of /proc/PID/stat.
type procStat struct {
	utime, stime uint64 // clock ticks
	threads      int
}

func (s procStat) cpuSeconds() float64 { return float64(s.utime+s.stime) / userHZ }

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

// parseProcStat reads utime (field 14), stime (15) and num_threads (20)
// of a /proc/PID/stat line. The command (field 2) is in parentheses and
// may hold spaces and parentheses: the fields start after the last ')'.
func parseProcStat(line string) (procStat, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc stat %q: no ')' after the command", trunc(line))
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3 (state)
	if len(f) < 18 {
		return procStat{}, fmt.Errorf("/proc stat %q: %d fields after the command, want at least 18", trunc(line), len(f))
	}
	var s procStat
	var err error
	if s.utime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("/proc stat utime %q: %w", f[11], err)
	}
	if s.stime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return procStat{}, fmt.Errorf("/proc stat stime %q: %w", f[12], err)
	}
	if s.threads, err = strconv.Atoi(f[17]); err != nil {
		return procStat{}, fmt.Errorf("/proc stat num_threads %q: %w", f[17], err)
	}
	return s, nil
}

func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

// parseVmRSS returns the VmRSS line of /proc/PID/status in bytes.
func parseVmRSS(status string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc status VmRSS %q: want \"<n> kB\"", strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status VmRSS %q: %w", f[0], err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc status: no VmRSS line")
}

// loadAvg is /proc/loadavg's first three fields.
type loadAvg [3]float64

func (l loadAvg) String() string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) }

func readLoadAvg() (loadAvg, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return loadAvg{}, err
	}
	return parseLoadAvg(string(b))
}

func parseLoadAvg(s string) (loadAvg, error) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return loadAvg{}, fmt.Errorf("/proc/loadavg %q: want 3 load averages", trunc(s))
	}
	var l loadAvg
	for i := range l {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return loadAvg{}, fmt.Errorf("/proc/loadavg field %d %q: %w", i+1, f[i], err)
		}
		l[i] = v
	}
	return l, nil
}

// hostCPU is the "cpu" line of /proc/stat: all CPUs, clock ticks.
type hostCPU struct{ busy, total uint64 }

func readHostCPU() (hostCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}, err
	}
	return parseHostCPU(string(b))
}

// parseHostCPU sums the first line's user nice system idle iowait irq
// softirq steal; idle and iowait are not busy.
func parseHostCPU(stat string) (hostCPU, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return hostCPU{}, fmt.Errorf("/proc/stat first line %q: want \"cpu\" and 8 counters", trunc(line))
	}
	var h hostCPU
	for i, v := range f[1:9] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return hostCPU{}, fmt.Errorf("/proc/stat cpu field %d %q: %w", i+1, v, err)
		}
		h.total += n
		if i != 3 && i != 4 { // idle, iowait
			h.busy += n
		}
	}
	return h, nil
}

// busyFraction is the share of CPU time that was busy since before.
func (h hostCPU) busyFraction(before hostCPU) float64 {
	if h.total <= before.total {
		return 0
	}
	return float64(h.busy-before.busy) / float64(h.total-before.total)
}

// cpuPercent is CPU seconds used in window as a percentage of one core.
func cpuPercent(cpuSeconds float64, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return 100 * cpuSeconds / window.Seconds()
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
