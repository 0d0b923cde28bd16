package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func idleNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("idle-%d", i+1)
	}
	return out
}

func isIdleName(name string, names []string) bool { return slices.Contains(names, name) }

// readyAndRestarts counts the pods of names that are Running and Ready and
// sums their containers' restarts.
func readyAndRestarts(pods []v1.Pod, names []string) (ready, restarts int) {
	for i := range pods {
		p := &pods[i]
		if !isIdleName(p.Name, names) {
			continue
		}
		if runningReady(p) {
			ready++
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += int(cs.RestartCount)
		}
	}
	return ready, restarts
}

// forEach runs f on every name, par at a time; the first error wins.
func forEach(names []string, par int, f func(string) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, par)
	for _, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func(n string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(n); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("%s: %w", n, err)
				}
				mu.Unlock()
			}
		}(n)
	}
	wg.Wait()
	return first
}

// idle creates the idle pods in the apiserver, bound to the agent's Node
// and with the default service-account token volume, waits until all are
// Running and Ready there, measures the agent, and deletes them.
func (b *clusterBench) idle(ctx context.Context) (usage, error) {
	pods := b.c.CoreV1().Pods(b.o.podNS)
	names := idleNames(b.o.idlePods)
	err := forEach(names, 5, func(n string) error {
		_, err := pods.Create(ctx, benchPod(b.o.podNS, n, b.o.image, b.o.namespace, true), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return usage{}, err
	}
	start := time.Now()
	list := func() ([]v1.Pod, error) {
		l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: benchLabel})
		if err != nil {
			return nil, err
		}
		return l.Items, nil
	}
	err = poll(ctx, 5*time.Minute, func() (bool, string, error) {
		ps, err := list()
		if err != nil {
			return false, err.Error(), nil
		}
		return countReady(ps, names)
	})
	if err != nil {
		return usage{}, err
	}
	u, err := measureIdle(ctx, b.o, b.agent, time.Since(start))
	if err != nil {
		return u, err
	}
	ps, err := list()
	if err != nil {
		return u, err
	}
	u.readyAtEnd, u.restarts = readyAndRestarts(ps, names)
	return u, b.cleanup()
}

// usage is one idle measurement.
type usage struct {
	pods            int
	allReady        time.Duration // from the last create to all Running and Ready
	window          time.Duration
	cpuSeconds      float64 // the daemon's utime+stime in the window
	rssMean, rssMax int64   // bytes
	threads         int
	hostBusy        float64 // fraction of all CPUs busy in the window
	loadBefore      loadAvg
	loadAfter       loadAvg
	readyAtEnd      int
	restarts        int
}

// measureIdle waits o.settle, then reads the daemon's CPU time at both
// ends of o.window and its RSS every second.
func measureIdle(ctx context.Context, o options, d *daemon, allReady time.Duration) (usage, error) {
	u := usage{pods: o.idlePods, allReady: allReady}
	fmt.Printf("==> %s: %d pods Running and Ready %v after the last create; settle %v, measure %v\n",
		d.name, o.idlePods, allReady.Round(100*time.Millisecond), o.settle, o.window)
	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
		return u, ctx.Err()
	}
	var err error
	if u.loadBefore, err = readLoadAvg(); err != nil {
		return u, err
	}
	h0, err := readHostCPU()
	if err != nil {
		return u, err
	}
	s0, err := readProcStat(d.pid())
	if err != nil {
		return u, err
	}
	t0 := time.Now()
	var rssSum, samples int64
	for end := t0.Add(o.window); time.Now().Before(end); {
		select {
		case <-time.After(min(time.Second, time.Until(end))):
		case <-ctx.Done():
			return u, ctx.Err()
		}
		rss, err := readRSS(d.pid())
		if err != nil {
			return u, fmt.Errorf("daemon %s: %w", d.name, err)
		}
		u.rssMax = max(u.rssMax, rss)
		rssSum += rss
		samples++
	}
	s1, err := readProcStat(d.pid())
	if err != nil {
		return u, err
	}
	u.window = time.Since(t0)
	h1, err := readHostCPU()
	if err != nil {
		return u, err
	}
	u.cpuSeconds = s1.cpuSeconds() - s0.cpuSeconds()
	u.threads = s1.threads
	u.rssMean = rssSum / max(samples, 1)
	u.hostBusy = h1.busyFraction(h0)
	u.loadAfter, err = readLoadAvg()
	return u, err
}

func (u usage) print(title string) {
	secs := u.window.Seconds()
	fmt.Printf("\n%s, window %.1fs:\n", title, secs)
	fmt.Printf("  agent CPU (utime+stime)   %.2f%% of one core (%.2fs)\n", cpuPercent(u.cpuSeconds, u.window), u.cpuSeconds)
	fmt.Printf("  agent RSS (VmRSS)         mean %.1f MiB, max %.1f MiB; %d threads\n", mib(u.rssMean), mib(u.rssMax), u.threads)
	fmt.Printf("  host CPU busy             %.0f%% of all CPUs\n", 100*u.hostBusy)
	fmt.Printf("  load average              %s before, %s after\n", u.loadBefore, u.loadAfter)
	fmt.Printf("  pods                      %d Running and Ready at the end, %d restarts; all ready %v after the last create\n",
		u.readyAtEnd, u.restarts, u.allReady.Round(100*time.Millisecond))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
