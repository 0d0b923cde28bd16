// Package benchstat summarizes the durations measured by the benchmark
// programs under scripts/: median, nearest-rank p95, min and max.
package benchstat

import (
	"slices"
	"time"
)

// Summary describes a set of durations.
type Summary struct {
	N           int
	Median, P95 time.Duration
	Min, Max    time.Duration
}

// Summarize computes the summary of ds; an empty ds gives a zero summary.
// The median of an even count is the mean of the two middle values; p95 is
// the nearest-rank percentile (the smallest value with at least 95% of the
// values at or below it).
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	out := Summary{N: n, Min: s[0], Max: s[n-1], P95: percentile(s, 95)}
	if n%2 == 1 {
		out.Median = s[n/2]
	} else {
		out.Median = (s[n/2-1] + s[n/2]) / 2
	}
	return out
}

// percentile is the nearest-rank p-th percentile of sorted (non-empty).
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n), 1-based
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}
