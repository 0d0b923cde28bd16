package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	d := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	twenty := ms(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	tests := []struct {
		name string
		in   []time.Duration
		want stats
	}{
		{"empty", nil, stats{}},
		{"one", ms(7), stats{N: 1, Median: d(7), P95: d(7), Min: d(7), Max: d(7)}},
		{"odd unsorted", ms(9, 1, 5), stats{N: 3, Median: d(5), P95: d(9), Min: d(1), Max: d(9)}},
		{"even takes the mean of the middle two", ms(4, 1, 3, 2), stats{N: 4, Median: 2500 * time.Microsecond, P95: d(4), Min: d(1), Max: d(4)}},
		// ceil(0.95*20) = 19th smallest.
		{"twenty", twenty, stats{N: 20, Median: 10500 * time.Microsecond, P95: d(19), Min: d(1), Max: d(20)}},
		// ceil(0.95*21) = 20th smallest.
		{"twenty-one", append(ms(100), twenty...), stats{N: 21, Median: d(11), P95: d(20), Min: d(1), Max: d(100)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := summarize(tc.in); got != tc.want {
				t.Errorf("summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSummarizeDoesNotReorderInput(t *testing.T) {
	in := []time.Duration{3, 1, 2}
	summarize(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("input reordered: %v", in)
	}
}

func TestPrintTable(t *testing.T) {
	var b bytes.Buffer
	printTable(&b, "title", []row{
		{Name: "kill → API", Samples: []time.Duration{2 * time.Millisecond, 4 * time.Millisecond}, Missed: 1},
		{Name: "none", Missed: 3},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || lines[0] != "title" {
		t.Fatalf("table:\n%s", b.String())
	}
	for _, want := range [][]string{
		{"kill", "→", "API", "2", "3.0", "4.0", "2.0", "4.0", "1"},
		{"none", "0", "-", "-", "-", "-", "3"},
	} {
		found := false
		for _, l := range lines[2:] {
			if strings.Join(strings.Fields(l), " ") == strings.Join(want, " ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no row %q in\n%s", strings.Join(want, " "), b.String())
		}
	}
	// Columns line up although "→" is one rune of three bytes.
	if i, j := strings.Index(lines[2], " 2 "), strings.Index(lines[3], " 0 "); len([]rune(lines[2][:i])) != len([]rune(lines[3][:j])) {
		t.Errorf("n column not aligned:\n%s", b.String())
	}
}
