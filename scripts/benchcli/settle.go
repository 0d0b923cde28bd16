package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// A command's clean-up may leave work running once it has exited: a
// runtime's garbage collection of the removed snapshot, the exit handling
// of a monitor process, podman's conmon starting `podman container
// cleanup`. Without a pause that work lands in the next case's timed
// window, whichever case that is. settle waits until the host is quiet
// again, so every case starts on an idle host.

// cpuTimes is the aggregate "cpu" line of /proc/stat: busy and idle
// (idle + iowait) jiffies.
type cpuTimes struct{ busy, idle uint64 }

// parseCPU reads the aggregate cpu line of a /proc/stat text.
func parseCPU(stat string) (cpuTimes, error) {
	sc := bufio.NewScanner(strings.NewReader(stat))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != "cpu" {
			continue
		}
		var t cpuTimes
		for i, s := range f[1:] {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat cpu field %d: %w", i+1, err)
			}
			if i == 3 || i == 4 { // idle, iowait
				t.idle += n
			} else if i < 8 { // user nice system . . irq softirq steal; guest is inside user
				t.busy += n
			}
		}
		return t, nil
	}
	return cpuTimes{}, fmt.Errorf("/proc/stat: no cpu line")
}

// quiet reports whether the host was busy less than maxBusy (a fraction
// of all CPUs) between samples a and b; no elapsed jiffies is not quiet.
func quiet(a, b cpuTimes, maxBusy float64) bool {
	busy, idle := b.busy-a.busy, b.idle-a.idle
	if busy+idle == 0 {
		return false
	}
	return float64(busy)/float64(busy+idle) < maxBusy
}

func readCPU() (cpuTimes, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseCPU(string(raw))
}

// settle waits until a window of the host's CPU use is below maxBusy, at
// most max; it reports whether the host did settle and how long it took.
func settle(window, max time.Duration, maxBusy float64) (bool, time.Duration, error) {
	start := time.Now()
	prev, err := readCPU()
	if err != nil {
		return false, 0, err
	}
	for time.Since(start) < max {
		time.Sleep(window)
		cur, err := readCPU()
		if err != nil {
			return false, 0, err
		}
		if quiet(prev, cur, maxBusy) {
			return true, time.Since(start), nil
		}
		prev = cur
	}
	return false, time.Since(start), nil
}
