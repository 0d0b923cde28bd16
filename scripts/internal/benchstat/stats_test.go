package benchstat

import (
	"testing"
	"time"
)

func msList(vs ...int) []time.Duration {
	out := make([]time.Duration, len(vs))
	for i, v := range vs {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func TestSummarize(t *testing.T) {
	thirty := make([]int, 30)
	for i := range thirty {
		thirty[i] = 30 - i // 30..1, unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", msList(7), Summary{N: 1, Median: 7 * time.Millisecond, P95: 7 * time.Millisecond, Min: 7 * time.Millisecond, Max: 7 * time.Millisecond}},
		{"odd unsorted", msList(5, 1, 3), Summary{N: 3, Median: 3 * time.Millisecond, P95: 5 * time.Millisecond, Min: time.Millisecond, Max: 5 * time.Millisecond}},
		{"even takes the mean of the middle two", msList(4, 1, 2, 10), Summary{N: 4, Median: 3 * time.Millisecond, P95: 10 * time.Millisecond, Min: time.Millisecond, Max: 10 * time.Millisecond}},
		// nearest rank: ceil(0.95*30) = 29th smallest of 1..30.
		{"thirty", msList(thirty...), Summary{N: 30, Median: 15500 * time.Microsecond, P95: 29 * time.Millisecond, Min: time.Millisecond, Max: 30 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.in); got != tt.want {
				t.Errorf("summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	sorted := msList(hundred...)
	for _, tt := range []struct{ p, want int }{{0, 1}, {1, 1}, {50, 50}, {95, 95}, {99, 99}, {100, 100}} {
		if got := percentile(sorted, tt.p); got != time.Duration(tt.want)*time.Millisecond {
			t.Errorf("percentile(1..100, %d) = %v, want %dms", tt.p, got, tt.want)
		}
	}
	if got := percentile(msList(3, 9), 95); got != 9*time.Millisecond {
		t.Errorf("percentile([3 9], 95) = %v, want 9ms", got)
	}
}
