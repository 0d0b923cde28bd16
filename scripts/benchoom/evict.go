package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/miniagent/miniagent/agent/api"
)

// crossing is what the working-set poller found: the first read above the
// level and the read before it, and the first read after that back under
// the level (zero if none).
type crossing struct {
	first, before time.Time
	freed         time.Time
	peak          int64
	err           error
}

// pollCrossing reads the working set of cgroup dir every interval until
// ctx ends, and reports when it first went above level and when it came
// back under it. It starts under the level (the caller waits for that).
func pollCrossing(ctx context.Context, dir string, level int64, every time.Duration) <-chan crossing {
	out := make(chan crossing, 1)
	go func() {
		var c crossing
		before := time.Now()
		for {
			ws, err := readWorkingSet(dir)
			now := time.Now()
			if err != nil {
				c.err = err
				out <- c
				return
			}
			c.peak = max(c.peak, ws)
			switch {
			case c.first.IsZero() && ws > level:
				c.first, c.before = now, before
			case !c.first.IsZero() && c.freed.IsZero() && ws <= level:
				c.freed = now
			}
			before = now
			select {
			case <-ctx.Done():
				out <- c
				return
			case <-time.After(every):
			}
		}
	}()
	return out
}

// evictSample is one eviction run's result.
type evictSample struct {
	crossToEvicted time.Duration // first read above the level → Evicted in the API
	crossUpper     time.Duration // last read under the level → Evicted in the API
	crossToFreed   time.Duration // first read above → first read back under (0: not seen)
	peak           int64
	missed         error
}

// benchEvict runs the eviction measurement o.runs times and prints its table.
func benchEvict(ctx context.Context, c *api.Client, root string, o options) error {
	thr, err := resource.ParseQuantity(o.threshold)
	if err != nil {
		return fmt.Errorf("--threshold %q: %w", o.threshold, err)
	}
	capacity, err := readLimit(root)
	if err != nil {
		return fmt.Errorf("pods cgroup: %w", err)
	}
	if capacity >= 1<<62 {
		return fmt.Errorf("pods cgroup %s has no memory limit: start the daemon with --kube-reserved and --enforce-node-allocatable=pods", root)
	}
	level := capacity - thr.Value()
	if level <= 0 {
		return fmt.Errorf("threshold %s is not below the pods cgroup limit %d", o.threshold, capacity)
	}
	fmt.Printf("eviction%s: pods cgroup %s limit %d MiB, threshold allocatableMemory.available<%s, so working set > %d MiB crosses it;\n"+
		"  BestEffort pod `dd bs=%s` after %s, working set polled every %s, random wait in [0, %s) before each apply\n",
		labelSuffix(o.label), root, capacity>>20, o.threshold, level>>20, o.grow, o.growDelay, o.wsPoll, o.jitter)
	rows := []row{{Name: "threshold crossing → Evicted in API"}, {Name: "  (from the last poll before the crossing)"}, {Name: "threshold crossing → working set back under"}}
	for i := 0; i < o.runs; i++ {
		if err := waitBelow(ctx, root, level/2, 60*time.Second); err != nil {
			return fmt.Errorf("eviction run %d: %w", i+1, err)
		}
		var wait time.Duration
		if o.jitter > 0 {
			wait = rand.N(o.jitter)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		s, err := evictOnce(ctx, c, root, level, o, i)
		if err != nil {
			return fmt.Errorf("eviction run %d: %w", i+1, err)
		}
		if s.missed != nil {
			fmt.Printf("  run %2d: crossing time missed: %v\n", i+1, s.missed)
			for j := range rows {
				rows[j].Missed++
			}
			continue
		}
		freed := "not seen"
		if s.crossToFreed > 0 {
			freed = ms(s.crossToFreed) + " ms"
			rows[2].Samples = append(rows[2].Samples, s.crossToFreed)
		} else {
			rows[2].Missed++
		}
		fmt.Printf("  run %2d: waited %s ms, crossing → Evicted %s ms (≤ %s ms), → working set back under %s (peak %d MiB)\n",
			i+1, ms(wait), ms(s.crossToEvicted), ms(s.crossUpper), freed, s.peak>>20)
		rows[0].Samples = append(rows[0].Samples, s.crossToEvicted)
		rows[1].Samples = append(rows[1].Samples, s.crossUpper)
	}
	printTable(os.Stdout, fmt.Sprintf("eviction latency%s, %d runs", labelSuffix(o.label), o.runs), rows)
	return nil
}

func labelSuffix(l string) string {
	if l == "" {
		return ""
	}
	return " (" + l + ")"
}

// waitBelow waits until the working set of cgroup dir is at most level
// (the previous run's memory is released).
func waitBelow(ctx context.Context, dir string, level int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ws, err := readWorkingSet(dir)
		if err != nil {
			return err
		}
		if ws <= level {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pods cgroup working set still %d MiB after %s (want ≤ %d MiB before a run)", ws>>20, timeout, level>>20)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// evictOnce applies one growing BestEffort pod, times the crossing and the
// eviction, and deletes the pod.
func evictOnce(ctx context.Context, c *api.Client, root string, level int64, o options, i int) (s evictSample, err error) {
	name := fmt.Sprintf("bench-evict-%d-%d", os.Getpid(), i)
	script := fmt.Sprintf("sleep %s; dd if=/dev/zero bs=%s count=1 | sleep 3600", seconds(o.growDelay), o.grow)
	pod := benchPod(o, name, script, nil)
	w, err := watchPod(ctx, c, o.namespace, name)
	if err != nil {
		return s, err
	}
	defer w.close()
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	crossings := pollCrossing(pollCtx, root, level, o.wsPoll)
	if _, _, err := c.ApplyPod(ctx, pod); err != nil {
		return s, fmt.Errorf("apply pod %s: %w", name, err)
	}
	defer func() {
		if derr := deletePod(c, o.namespace, name); derr != nil && err == nil {
			err = derr
		}
	}()
	_, evictedAt, err := w.until(ctx, o.timeout, "Evicted", isEvicted)
	if err != nil {
		return s, err
	}
	// Let the poller see the memory released (the kill comes with the
	// eviction), then take its result.
	freedBy := time.Now().Add(5 * time.Second)
	for time.Now().Before(freedBy) {
		ws, err := readWorkingSet(root)
		if err != nil || ws <= level {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * o.wsPoll)
	stopPoll()
	x := <-crossings
	switch {
	case x.err != nil:
		s.missed = x.err
	case x.first.IsZero():
		s.missed = errors.New("evicted, but the working set poll never saw the threshold crossed")
	default:
		s.crossToEvicted = evictedAt.Sub(x.first)
		s.crossUpper = evictedAt.Sub(x.before)
		if !x.freed.IsZero() {
			s.crossToFreed = x.freed.Sub(x.first)
		}
		s.peak = x.peak
	}
	return s, nil
}
