package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/api"
)

// standaloneBench drives pods through a standalone daemon's local API.
type standaloneBench struct {
	o      options
	daemon *daemon
}

func newStandaloneBench(o options, d *daemon) *standaloneBench {
	return &standaloneBench{o: o, daemon: d}
}

// once applies one pod and times apply → Running and Ready as the local
// API's watch shows it; then deletes it (untimed).
func (b *standaloneBench) once(ctx context.Context, name string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	c := b.daemon.client
	// Opened before the clock starts; it first replays the namespace's
	// pods as ADDED, which the UID filter skips.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	events, err := c.WatchPods(wctx, b.o.podNS)
	if err != nil {
		return 0, fmt.Errorf("watch: %w", err)
	}
	start := time.Now()
	stored, _, err := c.Apply(ctx, benchPod(b.o.podNS, name, b.o.image, "", false))
	if err != nil {
		return 0, fmt.Errorf("apply %s: %w", name, err)
	}
	if !runningReady(stored) {
		if err := waitLocal(ctx, events, stored.UID); err != nil {
			return 0, fmt.Errorf("pod %s: %w", name, err)
		}
	}
	d := time.Since(start)
	zero := int64(0)
	if _, err := c.DeletePod(ctx, b.o.podNS, name, &zero, true); err != nil {
		return 0, fmt.Errorf("delete %s: %w", name, err)
	}
	return d, nil
}

func waitLocal(ctx context.Context, events <-chan api.WatchEvent, uid types.UID) error {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errors.New("watch ended")
			}
			if ev.Pod.UID != uid {
				continue
			}
			if runningReady(&ev.Pod) {
				return nil
			}
			if err := failed(&ev.Pod); err != nil {
				return err
			}
		case <-ctx.Done():
			return errors.New("not Running and Ready in time")
		}
	}
}

// cleanup deletes every pod of this program from the daemon, waiting for
// each to be gone.
func (b *standaloneBench) cleanup() error {
	if !b.daemon.alive() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods, err := b.daemon.client.ListPods(ctx, "")
	if err != nil {
		return fmt.Errorf("clean-up: list standalone pods: %w", err)
	}
	var errs []error
	zero := int64(0)
	for _, p := range pods {
		if p.Labels[benchLabel] == "" {
			continue
		}
		if _, err := b.daemon.client.DeletePod(ctx, p.Namespace, p.Name, &zero, true); err != nil {
			errs = append(errs, fmt.Errorf("clean-up: delete %s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// idle applies the idle pods to the standalone daemon, waits until all are
// Running and Ready, measures, and deletes them.
func (b *standaloneBench) idle(ctx context.Context) (usage, error) {
	c := b.daemon.client
	names := idleNames(b.o.idlePods)
	err := forEach(names, 5, func(n string) error {
		_, _, err := c.Apply(ctx, benchPod(b.o.podNS, n, b.o.image, "", false))
		return err
	})
	if err != nil {
		return usage{}, err
	}
	start := time.Now()
	err = poll(ctx, 5*time.Minute, func() (bool, string, error) {
		pods, err := c.ListPods(ctx, b.o.podNS)
		if err != nil {
			return false, err.Error(), nil
		}
		return countReady(pods, names)
	})
	if err != nil {
		return usage{}, err
	}
	u, err := measureIdle(ctx, b.o, b.daemon, time.Since(start))
	if err != nil {
		return u, err
	}
	pods, err := c.ListPods(ctx, b.o.podNS)
	if err != nil {
		return u, err
	}
	u.readyAtEnd, u.restarts = readyAndRestarts(pods, names)
	return u, b.cleanup()
}

// countReady is poll's condition: every pod of names Running and Ready.
func countReady(pods []v1.Pod, names []string) (bool, string, error) {
	ready, _ := readyAndRestarts(pods, names)
	for _, p := range pods {
		if !isIdleName(p.Name, names) {
			continue
		}
		if err := failed(&p); err != nil {
			return false, "", err
		}
	}
	return ready == len(names), fmt.Sprintf("%d of %d Running and Ready", ready, len(names)), nil
}
