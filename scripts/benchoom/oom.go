package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/agent/api"
)

// killSeen is what the oom_kill poller found: the first read that showed
// the counter above its starting value, and the read before it (the kill
// happened between the two).
type killSeen struct {
	first, before time.Time
	err           error
}

// pollKills reads the oom_kill counter of cgroup dir every interval until
// it rises, the cgroup goes away, or ctx ends. A counter already above 0 at
// the first read means the kill was not caught in time.
func pollKills(ctx context.Context, dir string, every time.Duration) <-chan killSeen {
	out := make(chan killSeen, 1)
	go func() {
		start, err := oomKills(dir)
		before := time.Now()
		if err != nil {
			out <- killSeen{err: err}
			return
		}
		if start > 0 {
			out <- killSeen{err: fmt.Errorf("oom_kill counter already %d when polling began", start)}
			return
		}
		for {
			select {
			case <-ctx.Done():
				out <- killSeen{err: errors.New("no kill seen by the counter poll")}
				return
			case <-time.After(every):
			}
			n, err := oomKills(dir)
			now := time.Now()
			if errors.Is(err, fs.ErrNotExist) {
				out <- killSeen{err: errors.New("container cgroup removed before the counter poll saw the kill")}
				return
			}
			if err != nil {
				out <- killSeen{err: err}
				return
			}
			if n > start {
				out <- killSeen{first: now, before: before}
				return
			}
			before = now
		}
	}()
	return out
}

// oomSample is one OOM run's result.
type oomSample struct {
	running        time.Duration // apply → Running in the API
	killToAPI      time.Duration // first read seeing the kill → OOMKilled in the API
	killToAPIUpper time.Duration // last read before the kill → OOMKilled in the API
	missed         error         // the kill time could not be taken
}

// benchOOM runs the OOM measurement o.runs times and prints its table.
func benchOOM(ctx context.Context, c *api.Client, root string, o options) error {
	limits, err := memoryLimits(o.memLimit)
	if err != nil {
		return err
	}
	fmt.Printf("OOM: pod with memory limit %s running `tail /dev/zero` after %s; oom_kill counter polled every %s\n", o.memLimit, o.hogDelay, o.killPoll)
	rows := []row{{Name: "apply → Running in API"}, {Name: "kernel OOM kill → OOMKilled in API"}, {Name: "  (from the last poll before the kill)"}}
	for i := 0; i < o.runs; i++ {
		s, err := oomOnce(ctx, c, root, o, limits, i)
		if err != nil {
			return fmt.Errorf("oom run %d: %w", i+1, err)
		}
		rows[0].Samples = append(rows[0].Samples, s.running)
		if s.missed != nil {
			fmt.Printf("  run %2d: apply → Running %s ms; kill time missed: %v\n", i+1, ms(s.running), s.missed)
			rows[1].Missed++
			rows[2].Missed++
			continue
		}
		fmt.Printf("  run %2d: apply → Running %s ms, kill → OOMKilled %s ms (≤ %s ms)\n", i+1, ms(s.running), ms(s.killToAPI), ms(s.killToAPIUpper))
		rows[1].Samples = append(rows[1].Samples, s.killToAPI)
		rows[2].Samples = append(rows[2].Samples, s.killToAPIUpper)
	}
	printTable(os.Stdout, fmt.Sprintf("OOM kill latency, %d runs", o.runs), rows)
	return nil
}

// oomOnce applies one hog pod, times it to Running, polls its container
// cgroup's oom_kill counter, times the OOMKilled status, and deletes it.
func oomOnce(ctx context.Context, c *api.Client, root string, o options, limits v1.ResourceList, i int) (s oomSample, err error) {
	name := fmt.Sprintf("bench-oom-%d-%d", os.Getpid(), i)
	pod := benchPod(o, name, fmt.Sprintf("sleep %s; exec tail /dev/zero", seconds(o.hogDelay)), limits)
	w, err := watchPod(ctx, c, o.namespace, name)
	if err != nil {
		return s, err
	}
	defer w.close()
	start := time.Now()
	if _, _, err := c.ApplyPod(ctx, pod); err != nil {
		return s, fmt.Errorf("apply pod %s: %w", name, err)
	}
	defer func() {
		if derr := deletePod(c, o.namespace, name); derr != nil && err == nil {
			err = derr
		}
	}()
	p, runningAt, err := w.until(ctx, o.timeout, "Running", isRunning)
	if err != nil {
		return s, err
	}
	s.running = runningAt.Sub(start)
	dir, err := findCgroup(root, containerID(mainStatus(p)))
	if err != nil {
		return s, err
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	kills := pollKills(pollCtx, dir, o.killPoll)
	_, apiAt, err := w.until(ctx, o.timeout, "OOMKilled", isOOMKilled)
	if err != nil {
		return s, err
	}
	// The poller normally saw the kill well before the API did; give it a
	// moment in case it was descheduled.
	var k killSeen
	select {
	case k = <-kills:
	case <-time.After(500 * time.Millisecond):
		stopPoll()
		k = <-kills
	}
	if k.err != nil {
		s.missed = k.err
		return s, nil
	}
	s.killToAPI = apiAt.Sub(k.first)
	s.killToAPIUpper = apiAt.Sub(k.before)
	return s, nil
}

// seconds formats d for busybox sleep.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
