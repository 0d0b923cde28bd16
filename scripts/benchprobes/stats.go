package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// probeRun is one "probe" debug line of the daemon log.
type probeRun struct {
	kind    string // Liveness, Readiness, Startup
	pod     string // namespace/name
	result  string // success, failure, error
	begin   time.Time
	latency time.Duration
	late    time.Duration // -1 if unknown
}

// parseProbeLog reads the daemon's slog text log and returns the probe runs
// that began in [from, to). Lines that are not "probe" debug lines are skipped.
func parseProbeLog(r io.Reader, from, to time.Time) ([]probeRun, error) {
	var runs []probeRun
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, " msg=probe ") {
			continue
		}
		kv := fields(line)
		begin, err1 := strconv.ParseInt(kv["begin_us"], 10, 64)
		lat, err2 := strconv.ParseInt(kv["latency_us"], 10, 64)
		late, err3 := strconv.ParseInt(kv["late_us"], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("malformed probe line: %q", line)
		}
		r := probeRun{kind: kv["probe"], pod: kv["pod"], result: kv["result"],
			begin: time.UnixMicro(begin), latency: time.Duration(lat) * time.Microsecond, late: -1}
		if late >= 0 {
			r.late = time.Duration(late) * time.Microsecond
		}
		if r.begin.Before(from) || !r.begin.Before(to) {
			continue
		}
		runs = append(runs, r)
	}
	return runs, sc.Err()
}

// fields splits a slog text line into key=value pairs (values without
// spaces or quotes, which is all the probe line has).
func fields(line string) map[string]string {
	kv := map[string]string{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

// dist summarises a sample of durations.
type dist struct {
	n                  int
	p50, p90, p99, max time.Duration
	mean               time.Duration
}

func summarize(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return dist{n: len(s), p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99),
		max: s[len(s)-1], mean: sum / time.Duration(len(s))}
}

// percentile of a sorted sample, nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// kindStats is what the summary shows for one probe type.
type kindStats struct {
	kind      string
	runs      int
	failures  int // failure or error
	latency   dist
	late      dist
	intervalΔ dist // |gap between consecutive runs of one probe − period|
}

// analyze groups runs by probe type; period gives each type's periodSeconds.
func analyze(runs []probeRun, period map[string]time.Duration) []kindStats {
	byKind := map[string][]probeRun{}
	for _, r := range runs {
		byKind[r.kind] = append(byKind[r.kind], r)
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []kindStats
	for _, k := range kinds {
		rs := byKind[k]
		st := kindStats{kind: k, runs: len(rs)}
		var lat, late, gaps []time.Duration
		prev := map[string]time.Time{}
		sort.Slice(rs, func(i, j int) bool { return rs[i].begin.Before(rs[j].begin) })
		for _, r := range rs {
			if r.result != "success" {
				st.failures++
			}
			lat = append(lat, r.latency)
			if r.late >= 0 {
				late = append(late, r.late)
			}
			if p, ok := prev[r.pod]; ok && period[k] > 0 {
				d := r.begin.Sub(p) - period[k]
				gaps = append(gaps, max(d, -d))
			}
			prev[r.pod] = r.begin
		}
		st.latency, st.late, st.intervalΔ = summarize(lat), summarize(late), summarize(gaps)
		out = append(out, st)
	}
	return out
}

// ms formats a duration in milliseconds with two decimals.
func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
