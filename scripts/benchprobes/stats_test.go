package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var base = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func line(kind, pod, result string, beginOffset, latency, late time.Duration) string {
	lateUS := int64(-1)
	if late >= 0 {
		lateUS = late.Microseconds()
	}
	return fmt.Sprintf("time=2025-01-02T03:04:05.000Z level=DEBUG msg=probe probe=%s pod=%s container=main result=%s begin_us=%d latency_us=%d late_us=%d",
		kind, pod, result, base.Add(beginOffset).UnixMicro(), latency.Microseconds(), lateUS)
}

func TestParseProbeLog(t *testing.T) {
	log := strings.Join([]string{
		`time=2025-01-02T03:04:05.000Z level=INFO msg="pod started" pod=default/x`,
		line("Readiness", "default/a", "success", 500*time.Millisecond, 3*time.Millisecond, 0), // before the window
		line("Readiness", "default/a", "success", 1500*time.Millisecond, 4*time.Millisecond, 200*time.Microsecond),
		line("Liveness", "default/a", "failure", 2*time.Second, 30*time.Millisecond, -1),
		line("Readiness", "default/a", "success", 3*time.Second, 4*time.Millisecond, 0), // at the end: excluded
	}, "\n")
	runs, err := parseProbeLog(strings.NewReader(log), base.Add(time.Second), base.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("%d runs, want 2: %+v", len(runs), runs)
	}
	r := runs[0]
	if r.kind != "Readiness" || r.pod != "default/a" || r.result != "success" || !r.begin.Equal(base.Add(1500*time.Millisecond)) ||
		r.latency != 4*time.Millisecond || r.late != 200*time.Microsecond {
		t.Errorf("run 0 = %+v", r)
	}
	if runs[1].late != -1 || runs[1].result != "failure" {
		t.Errorf("run 1 = %+v, want late -1 (unknown) and failure", runs[1])
	}
	if _, err := parseProbeLog(strings.NewReader("level=DEBUG msg=probe probe=Liveness begin_us=x\n"), base, base); err == nil {
		t.Error("malformed line accepted")
	}
}

func TestPercentile(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {10, 1}, {11, 2}, {50, 5}, {90, 9}, {99, 10}, {100, 10}} {
		if got := percentile(s, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("empty: %v", got)
	}
	d := summarize([]time.Duration{4, 1, 3, 2})
	if d.n != 4 || d.p50 != 2 || d.max != 4 || d.mean != 2 {
		t.Errorf("summarize = %+v", d)
	}
}

func TestAnalyze(t *testing.T) {
	sec := time.Second
	runs := []probeRun{
		{kind: "Readiness", pod: "p1", result: "success", begin: base, latency: 2 * time.Millisecond, late: 0},
		{kind: "Readiness", pod: "p2", result: "success", begin: base.Add(100 * time.Millisecond), latency: 4 * time.Millisecond, late: time.Millisecond},
		{kind: "Readiness", pod: "p1", result: "failure", begin: base.Add(sec + 5*time.Millisecond), latency: 6 * time.Millisecond, late: 5 * time.Millisecond},
		{kind: "Readiness", pod: "p2", result: "success", begin: base.Add(1090 * time.Millisecond), latency: 8 * time.Millisecond, late: 0},
		{kind: "Liveness", pod: "p1", result: "error", begin: base, latency: 20 * time.Millisecond, late: -1},
	}
	got := analyze(runs, map[string]time.Duration{"Readiness": sec, "Liveness": 10 * sec})
	if len(got) != 2 || got[0].kind != "Liveness" || got[1].kind != "Readiness" {
		t.Fatalf("kinds %+v", got)
	}
	l, r := got[0], got[1]
	if l.runs != 1 || l.failures != 1 || l.late.n != 0 || l.intervalΔ.n != 0 {
		t.Errorf("liveness %+v", l)
	}
	if r.runs != 4 || r.failures != 1 || r.latency.max != 8*time.Millisecond || r.late.max != 5*time.Millisecond {
		t.Errorf("readiness %+v", r)
	}
	// p1: gap 1005 ms → 5 ms off; p2: gap 990 ms → 10 ms off.
	if r.intervalΔ.n != 2 || r.intervalΔ.max != 10*time.Millisecond || r.intervalΔ.p50 != 5*time.Millisecond {
		t.Errorf("readiness interval deviation %+v", r.intervalΔ)
	}
}

func TestIsShimOf(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "bench", "-id", "x"}, true},
		{[]string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "other", "-id", "x"}, false},
		{[]string{"/usr/bin/containerd", "-namespace", "bench"}, false},
		{[]string{"/usr/bin/containerd-shim-runc-v2", "-namespace"}, false},
		{nil, false},
	} {
		if got := isShimOf(tc.args, "bench"); got != tc.want {
			t.Errorf("isShimOf(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
