package eviction

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// SignalObservation is one signal's capacity and available bytes.
type SignalObservation struct {
	Capacity  int64
	Available int64
}

// PSI is the "some" line of /proc/pressure/memory: the share of time some
// task stalled on memory, in percent over 10, 60 and 300 s. It is reported,
// not acted on.
type PSI struct {
	Avg10, Avg60, Avg300 float64
	TotalMicros          uint64
}

// Observation is what one monitoring step saw.
type Observation struct {
	Signals map[Signal]SignalObservation
	PSI     *PSI // nil where the kernel has no PSI
}

// thresholdBytes is the threshold's value in bytes against obs.
func thresholdBytes(t Threshold, obs SignalObservation) int64 {
	return t.Value.Bytes(obs.Capacity)
}

// ThresholdsMet returns the thresholds whose signal's available bytes are
// below the threshold. With enforceMinReclaim the bar is raised by the
// threshold's minimum reclaim: a threshold that was met stays met until
// that much more is available (kubelet's rule for thresholds already met).
// Thresholds without an observation are not met.
func ThresholdsMet(thresholds []Threshold, obs Observation, enforceMinReclaim bool) []Threshold {
	var out []Threshold
	for _, t := range thresholds {
		o, ok := obs.Signals[t.Signal]
		if !ok {
			continue
		}
		bar := thresholdBytes(t, o)
		if enforceMinReclaim && t.MinReclaim != nil {
			bar += t.MinReclaim.Bytes(o.Capacity)
		}
		if o.Available < bar {
			out = append(out, t)
		}
	}
	return out
}

// Meminfo holds the /proc/meminfo fields the memory signal needs, in bytes.
type Meminfo struct {
	MemTotal, MemFree, InactiveFile int64
}

// ParseMeminfo reads MemTotal, MemFree and Inactive(file) from /proc/meminfo
// content.
func ParseMeminfo(r io.Reader) (Meminfo, error) {
	var m Meminfo
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		switch k {
		case "MemTotal":
			m.MemTotal = n
			found++
		case "MemFree":
			m.MemFree = n
			found++
		case "Inactive(file)":
			m.InactiveFile = n
			found++
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if found < 3 {
		return m, fmt.Errorf("meminfo: missing MemTotal, MemFree or Inactive(file)")
	}
	return m, nil
}

// NodeMemoryAvailable is kubelet's memory.available from meminfo: capacity
// (MemTotal) minus the working set, where usage = MemTotal - MemFree and
// working set = usage - Inactive(file).
func NodeMemoryAvailable(m Meminfo) SignalObservation {
	usage := m.MemTotal - m.MemFree
	ws := usage - m.InactiveFile
	if ws < 0 {
		ws = 0
	}
	return SignalObservation{Capacity: m.MemTotal, Available: m.MemTotal - ws}
}

// ParsePSI reads the "some" line of /proc/pressure/memory content.
func ParsePSI(r io.Reader) (*PSI, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "some" {
			continue
		}
		p := &PSI{}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			var err error
			switch k {
			case "avg10":
				p.Avg10, err = strconv.ParseFloat(v, 64)
			case "avg60":
				p.Avg60, err = strconv.ParseFloat(v, 64)
			case "avg300":
				p.Avg300, err = strconv.ParseFloat(v, 64)
			case "total":
				p.TotalMicros, err = strconv.ParseUint(v, 10, 64)
			}
			if err != nil {
				return nil, fmt.Errorf("memory pressure %s: %w", kv, err)
			}
		}
		return p, nil
	}
	return nil, fmt.Errorf("memory pressure: no \"some\" line")
}

// readPSI reads the host's memory PSI; nil where the kernel has none.
func readPSI() *PSI {
	f, err := os.Open("/proc/pressure/memory")
	if err != nil {
		return nil
	}
	defer f.Close()
	p, err := ParsePSI(f)
	if err != nil {
		return nil
	}
	return p
}
