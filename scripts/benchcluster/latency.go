package main

import (
	"context"
	"fmt"
	goruntime "runtime"
	"time"

	"github.com/miniagent/miniagent/scripts/internal/benchstat"
)

// latencies are the counted rounds of both kinds.
type latencies struct {
	cluster, standalone []time.Duration
	taken               []time.Duration // cluster: create → the agent's first status
	loadBefore          loadAvg
	loadAfter           loadAvg
}

// latency runs one warm-up and o.rounds counted rounds; each round runs
// both kinds, the order alternating so neither always goes first.
func latency(ctx context.Context, o options, cb *clusterBench, sb *standaloneBench) (latencies, error) {
	var l latencies
	var err error
	if l.loadBefore, err = readLoadAvg(); err != nil {
		return l, err
	}
	fmt.Printf("==> latency: %d rounds of each kind after 1 warm-up, interleaved\n", o.rounds)
	for i := -1; i < o.rounds; i++ {
		kinds := []string{"cluster", "standalone"}
		if i%2 != 0 {
			kinds[0], kinds[1] = kinds[1], kinds[0]
		}
		for _, k := range kinds {
			var d, taken time.Duration
			var err error
			if k == "cluster" {
				d, taken, err = cb.once(ctx, roundName("c", i))
			} else {
				d, err = sb.once(ctx, roundName("s", i))
			}
			if err != nil {
				return l, fmt.Errorf("%s round %d: %w", k, i+1, err)
			}
			if i < 0 {
				continue
			}
			if k == "cluster" {
				l.cluster = append(l.cluster, d)
				l.taken = append(l.taken, taken)
			} else {
				l.standalone = append(l.standalone, d)
			}
		}
	}
	l.loadAfter, err = readLoadAvg()
	return l, err
}

func (l latencies) print(o options) {
	c, s := benchstat.Summarize(l.cluster), benchstat.Summarize(l.standalone)
	fmt.Printf("\npod start to Running and Ready, %d rounds each (after 1 warm-up), image %s; load %s before, %s after\n\n",
		o.rounds, o.image, l.loadBefore, l.loadAfter)
	fmt.Printf("%-52s %9s %9s %9s %9s\n", "", "median", "p95", "min", "max")
	printRow("cluster: create (nodeName set) -> apiserver watch", c)
	printRow("  of which create -> the agent's first status", benchstat.Summarize(l.taken))
	printRow("standalone: apply -> local API watch", s)
	if r, ok := ratio(c.Median, s.Median); ok {
		fmt.Printf("\nratio cluster / standalone: medians %.2f", r)
		if r95, ok := ratio(c.P95, s.P95); ok {
			fmt.Printf(", p95 %.2f", r95)
		}
		fmt.Println()
	}
}

// ratio is a/b; false when b is zero.
func ratio(a, b time.Duration) (float64, bool) {
	if b <= 0 {
		return 0, false
	}
	return float64(a) / float64(b), true
}

func printRow(label string, s benchstat.Summary) {
	fmt.Printf("%-52s %9s %9s %9s %9s\n", label, ms(s.Median), ms(s.P95), ms(s.Min), ms(s.Max))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func hostLine() string {
	return fmt.Sprintf("%d CPUs", goruntime.NumCPU())
}

func loadLine() string {
	l, err := readLoadAvg()
	if err != nil {
		return err.Error()
	}
	return l.String()
}
