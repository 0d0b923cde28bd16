package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A real line of `sleep`, with the command replaced by one holding
	// spaces and parentheses.
	const rest = " S 1 100 100 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 7 0 12345 1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	tests := []struct {
		name, line string
		want       procStat
		err        string
	}{
		{"plain", "4242 (miniagent-daem)" + rest, procStat{utime: 250, stime: 75, threads: 7}, ""},
		{"odd command", "4242 (a ) b (c))" + rest, procStat{utime: 250, stime: 75, threads: 7}, ""},
		{"no command", "4242 miniagent S 1", procStat{}, "no ')'"},
		{"short", "4242 (x) S 1 2 3", procStat{}, "fields after the command"},
		{"bad utime", "4242 (x) S 1 100 100 0 -1 4194560 100 0 0 0 x 75 0 0 20 0 7 0", procStat{}, "utime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat(tt.line)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseProcStat = %+v, %v; want %+v", got, err, tt.want)
			}
			if s := got.cpuSeconds(); s != 3.25 {
				t.Errorf("cpuSeconds = %v, want 3.25", s)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		err      string
	}{
		{"ok", "Name:\tx\nVmHWM:\t  9000 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n", 51234 * 1024, ""},
		{"missing", "Name:\tx\nThreads:\t9\n", 0, "no VmRSS"},
		{"unit", "VmRSS:\t12 MB\n", 0, "want"},
		{"number", "VmRSS:\tx kB\n", 0, "VmRSS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseVmRSS = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestParseLoadAvg(t *testing.T) {
	got, err := parseLoadAvg("2.68 3.38 16.93 3/812 123456\n")
	if err != nil || got != (loadAvg{2.68, 3.38, 16.93}) || got.String() != "2.68 3.38 16.93" {
		t.Errorf("parseLoadAvg = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1.0 2.0", "1.0 x 3.0 1/2 3"} {
		if _, err := parseLoadAvg(bad); err == nil {
			t.Errorf("parseLoadAvg(%q) gave no error", bad)
		}
	}
}

func TestParseHostCPU(t *testing.T) {
	before, err := parseHostCPU("cpu  100 10 50 800 40 5 5 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
	if err != nil || before != (hostCPU{busy: 170, total: 1010}) {
		t.Fatalf("parseHostCPU = %+v, %v", before, err)
	}
	after := hostCPU{busy: 270, total: 1410}
	if f := after.busyFraction(before); f != 0.25 {
		t.Errorf("busyFraction = %v, want 0.25", f)
	}
	if f := before.busyFraction(before); f != 0 {
		t.Errorf("busyFraction of no time = %v, want 0", f)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 3 x 5 6 7 8"} {
		if _, err := parseHostCPU(bad); err == nil {
			t.Errorf("parseHostCPU(%q) gave no error", bad)
		}
	}
}

func TestCPUPercentAndRatio(t *testing.T) {
	if p := cpuPercent(1.5, 60*time.Second); p != 2.5 {
		t.Errorf("cpuPercent(1.5s, 60s) = %v, want 2.5", p)
	}
	if p := cpuPercent(1, 0); p != 0 {
		t.Errorf("cpuPercent with no window = %v, want 0", p)
	}
	if r, ok := ratio(150*time.Millisecond, 100*time.Millisecond); !ok || r != 1.5 {
		t.Errorf("ratio = %v, %v; want 1.5", r, ok)
	}
	if _, ok := ratio(time.Second, 0); ok {
		t.Error("ratio by zero reported ok")
	}
}
