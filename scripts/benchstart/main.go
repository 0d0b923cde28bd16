// Command benchstart measures how long a one-container busybox pod takes
// from apply to Running through a miniagent daemon, next to the floor: the
// same container created and started directly through containerd's Go
// client. It runs the two measurements interleaved, N times each, and prints
// a table of median, p95, min and max plus the ratio of the medians.
//
// With --steps it also times each runtime step the agent performs (image
// status, sandbox, create, start, status) by calling runtime/containerd
// directly, to show where the agent's time goes.
//
// It is driven by scripts/bench-start.sh, which starts and stops the daemon.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/miniagent/miniagent/scripts/internal/benchstat"
)

type options struct {
	socket         string // miniagent API socket; "" skips the agent runs
	address        string // containerd socket
	floorNamespace string // containerd namespace for the floor; "" skips it
	stepsNamespace string // containerd namespace for --steps; "" skips it
	stepsStateDir  string // sandbox state dir for --steps
	logShim        string // miniagent-daemon binary for the --steps log shim
	floorLogShim   string // miniagent-daemon binary for a second floor row with the log shim
	floorLogDir    string // where that row's logs go
	podNamespace   string // Kubernetes namespace of the bench pods
	image          string
	runs           int
	poll           time.Duration // 0: use the watch API
	timeout        time.Duration // per run
}

func main() {
	var o options
	flag.StringVar(&o.socket, "socket", "", "miniagent API socket (empty: skip the agent runs)")
	flag.StringVar(&o.address, "containerd-address", "/run/containerd/containerd.sock", "containerd socket")
	flag.StringVar(&o.floorNamespace, "floor-namespace", "", "containerd namespace for the floor runs (empty: skip); must not be the daemon's")
	flag.StringVar(&o.stepsNamespace, "steps-namespace", "", "containerd namespace for the per-step runs through runtime/containerd (empty: skip); must not be the daemon's")
	flag.StringVar(&o.stepsStateDir, "steps-state-dir", "", "state dir (netns mounts) for the per-step runs")
	flag.StringVar(&o.logShim, "log-shim", "", "absolute path of the miniagent-daemon binary, used as log shim (its crilog-shim verb) in the per-step runs")
	flag.StringVar(&o.floorLogShim, "floor-log-shim", "", "absolute path of the miniagent-daemon binary: add a floor row whose task logs through its crilog-shim verb (needs --floor-namespace)")
	flag.StringVar(&o.floorLogDir, "floor-log-dir", "", "directory for the logs of the --floor-log-shim row (removed at the end)")
	flag.StringVar(&o.podNamespace, "n", "default", "Kubernetes namespace of the bench pods")
	flag.StringVar(&o.image, "image", "busybox", "image (must be present in every namespace used)")
	flag.IntVar(&o.runs, "runs", 30, "runs of each kind")
	flag.DurationVar(&o.poll, "poll", 0, "poll GET every this often instead of watching (e.g. 5ms)")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up on one run after this long")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchstart:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.runs < 1 {
		return fmt.Errorf("--runs must be at least 1")
	}
	ctx := context.Background()
	var agent *agentBench
	var floor, floorShim *floorBench
	var steps *stepsBench
	var err error
	if o.socket != "" {
		if agent, err = newAgentBench(ctx, o); err != nil {
			return err
		}
		defer agent.close()
	}
	if o.floorNamespace != "" {
		if floor, err = newFloorBench(ctx, o, "", ""); err != nil {
			return err
		}
		defer floor.close()
		if o.floorLogShim != "" {
			if o.floorLogDir == "" || !filepath.IsAbs(o.floorLogDir) {
				return fmt.Errorf("--floor-log-shim needs an absolute --floor-log-dir")
			}
			if floorShim, err = newFloorBench(ctx, o, o.floorLogShim, o.floorLogDir); err != nil {
				return err
			}
			defer floorShim.close()
		}
	}
	if o.stepsNamespace != "" {
		if steps, err = newStepsBench(ctx, o); err != nil {
			return err
		}
		defer steps.close()
	}
	if agent == nil && floor == nil && steps == nil {
		return fmt.Errorf("nothing to measure: give --socket, --floor-namespace and/or --steps-namespace")
	}

	// One warm-up run of each kind, not counted: first-use costs (page
	// cache, shim binary, image unpack check) are not what we measure.
	var agentD, postD, floorD, floorShimD []time.Duration
	var stepD []stepTimes
	for i := -1; i < o.runs; i++ {
		if agent != nil {
			d, post, err := agent.once(ctx, i)
			if err != nil {
				return fmt.Errorf("agent run %d: %w", i+1, err)
			}
			if i >= 0 {
				agentD = append(agentD, d)
				postD = append(postD, post)
			}
		}
		if floor != nil {
			d, err := floor.once(ctx, i)
			if err != nil {
				return fmt.Errorf("floor run %d: %w", i+1, err)
			}
			if i >= 0 {
				floorD = append(floorD, d)
			}
		}
		if floorShim != nil {
			d, err := floorShim.once(ctx, i)
			if err != nil {
				return fmt.Errorf("floor run with log shim %d: %w", i+1, err)
			}
			if i >= 0 {
				floorShimD = append(floorShimD, d)
			}
		}
		if steps != nil {
			st, err := steps.once(ctx, i)
			if err != nil {
				return fmt.Errorf("steps run %d: %w", i+1, err)
			}
			if i >= 0 {
				stepD = append(stepD, st)
			}
		}
	}

	fmt.Printf("\nstart-up latency, %d runs each (after 1 warm-up), image %s\n\n", o.runs, o.image)
	fmt.Printf("%-44s %9s %9s %9s %9s\n", "", "median", "p95", "min", "max")
	var agentS, floorS benchstat.Summary
	if agent != nil {
		how := "watch"
		if o.poll > 0 {
			how = "poll " + o.poll.String()
		}
		agentS = benchstat.Summarize(agentD)
		printRow(fmt.Sprintf("miniagent apply -> Running (%s)", how), agentS)
		printRow("  of which the apply POST", benchstat.Summarize(postD))
	}
	if floor != nil {
		floorS = benchstat.Summarize(floorD)
		printRow("containerd create+start (floor)", floorS)
	}
	if floorShim != nil {
		printRow("containerd create+start, crilog-shim IO", benchstat.Summarize(floorShimD))
	}
	if agent != nil && floor != nil && floorS.Median > 0 {
		fmt.Printf("\nratio of medians (miniagent / floor): %.2f\n", float64(agentS.Median)/float64(floorS.Median))
	}
	if steps != nil {
		fmt.Printf("\nruntime/containerd steps as the agent calls them (same %d runs):\n\n", o.runs)
		fmt.Printf("%-44s %9s %9s %9s %9s\n", "", "median", "p95", "min", "max")
		for _, name := range stepNames {
			var ds []time.Duration
			for _, st := range stepD {
				ds = append(ds, st[name])
			}
			printRow("  "+name, benchstat.Summarize(ds))
		}
	}
	return nil
}

func printRow(label string, s benchstat.Summary) {
	fmt.Printf("%-44s %9s %9s %9s %9s\n", label, ms(s.Median), ms(s.P95), ms(s.Min), ms(s.Max))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
