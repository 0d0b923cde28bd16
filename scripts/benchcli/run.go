package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/miniagent/miniagent/scripts/internal/benchstat"
)

// run executes the plan: warmup untimed rounds, then runs timed ones, and
// prints the table to w.
func run(p plan, runs, warmup int, timeout, settleMax time.Duration, w io.Writer) error {
	load0 := loadAvg()
	times := make([][]time.Duration, len(p.cases))
	cpus := make([][]time.Duration, len(p.cases))
	var waits []time.Duration
	unsettled := 0
	for r := 0; r < warmup+runs; r++ {
		for _, ci := range roundOrder(len(p.cases), r) {
			c := p.cases[ci]
			if settleMax > 0 {
				ok, waited, err := settle(settleWindow, settleMax, settleBusy)
				if err != nil {
					return err
				}
				waits = append(waits, waited)
				if !ok {
					unsettled++
				}
			}
			d, cpu, err := timeSteps(expand(c.steps, r), timeout)
			if err != nil {
				return fmt.Errorf("case %s, run %d: %w", c.name, r, err)
			}
			if c.cleanup != nil {
				if _, _, err := timeSteps(expand(c.cleanup, r), timeout); err != nil {
					return fmt.Errorf("clean-up of case %s, run %d: %w", c.name, r, err)
				}
			}
			if r >= warmup {
				times[ci] = append(times[ci], d)
				cpus[ci] = append(cpus[ci], cpu)
			}
		}
	}
	load1 := loadAvg()
	fmt.Fprintf(w, "%d timed runs per case (+%d warm-up), interleaved; load average before: %s, after: %s\n", runs, warmup, load0, load1)
	if settleMax > 0 {
		fmt.Fprintf(w, "before each run: waited for a %v window under %.0f %% CPU, median %s, %d of %d runs not settled after %v\n",
			settleWindow, settleBusy*100, ms(benchstat.Summarize(waits).Median), unsettled, len(waits), settleMax)
	}
	fmt.Fprintf(w, "%-24s %9s %9s %9s %9s %9s %11s\n", "case", "median", "p95", "min", "max", "÷"+p.cases[p.baseline].name, "CPU median")
	base := benchstat.Summarize(times[p.baseline]).Median
	for i, c := range p.cases {
		s := benchstat.Summarize(times[i])
		fmt.Fprintf(w, "%-24s %9s %9s %9s %9s %9.2f %11s\n", c.name, ms(s.Median), ms(s.P95), ms(s.Min), ms(s.Max), float64(s.Median)/float64(base), ms(benchstat.Summarize(cpus[i]).Median))
	}
	return nil
}

// The settling window and threshold: 200 ms under 10 % of all CPUs.
const (
	settleWindow = 200 * time.Millisecond
	settleBusy   = 0.10
)

// timeSteps runs the programs one after another, each with stdin and stdout
// on /dev/null, and returns the wall time from the first start to the last
// exit and the CPU time (user + system) the programs used. A program that
// fails (or outlives timeout) is an error with its stderr.
func timeSteps(steps [][]string, timeout time.Duration) (wall, cpu time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stderr bytes.Buffer
	start := time.Now()
	for _, argv := range steps {
		stderr.Reset()
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return 0, 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
		}
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return time.Since(start), cpu, nil
}

// loadAvg is the first three fields of /proc/loadavg, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ms prints d in milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
