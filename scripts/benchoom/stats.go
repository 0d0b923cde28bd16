package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// stats summarises one measured series.
type stats struct {
	N                     int
	Median, P95, Min, Max time.Duration
}

// summarize computes the stats of ds (zero stats for none). The median of
// an even count is the mean of the middle two; p95 is the nearest rank:
// the smallest sample with at least 95% of the samples at or below it.
func summarize(ds []time.Duration) stats {
	n := len(ds)
	if n == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	st := stats{N: n, Min: s[0], Max: s[n-1]}
	if n%2 == 1 {
		st.Median = s[n/2]
	} else {
		st.Median = (s[n/2-1] + s[n/2]) / 2
	}
	rank := (95*n + 99) / 100 // ceil(0.95 n)
	st.P95 = s[rank-1]
	return st
}

// row is one line of the result table.
type row struct {
	Name    string
	Samples []time.Duration
	Missed  int // runs that gave no sample
}

// ms formats d in milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// printTable writes the rows as an aligned table in milliseconds (fmt
// widths count runes, so names with "→" line up).
func printTable(w io.Writer, title string, rows []row) {
	fmt.Fprintf(w, "\n%s\n", title)
	width := len("measurement")
	for _, r := range rows {
		width = max(width, len([]rune(r.Name)))
	}
	fmt.Fprintf(w, "  %-*s  %4s  %9s  %9s  %9s  %9s  %s\n", width, "measurement", "n", "median ms", "p95 ms", "min ms", "max ms", "missed")
	for _, r := range rows {
		s := summarize(r.Samples)
		if s.N == 0 {
			fmt.Fprintf(w, "  %-*s  %4d  %9s  %9s  %9s  %9s  %d\n", width, r.Name, 0, "-", "-", "-", "-", r.Missed)
			continue
		}
		fmt.Fprintf(w, "  %-*s  %4d  %9s  %9s  %9s  %9s  %d\n", width, r.Name, s.N, ms(s.Median), ms(s.P95), ms(s.Min), ms(s.Max), r.Missed)
	}
}
