package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/agent/api"
)

// podWatch follows one pod through the API's watch stream and timestamps
// each event as it arrives.
type podWatch struct {
	ch     <-chan api.WatchEvent
	cancel context.CancelFunc
	last   *v1.Pod
}

// watchPod starts watching namespace/name (the pod need not exist yet).
func watchPod(ctx context.Context, c *api.Client, ns, name string) (*podWatch, error) {
	wctx, cancel := context.WithCancel(ctx)
	ch, err := c.WatchPod(wctx, ns, name)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch pod %s/%s: %w", ns, name, err)
	}
	return &podWatch{ch: ch, cancel: cancel}, nil
}

func (w *podWatch) close() { w.cancel() }

// until returns the first pod version that satisfies cond and when its
// event arrived. A pod that ends (Failed or Succeeded) without satisfying
// cond, a closed stream, or the timeout is an error naming what was
// awaited and the last state seen.
func (w *podWatch) until(ctx context.Context, timeout time.Duration, what string, cond func(*v1.Pod) bool) (*v1.Pod, time.Time, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.ch:
			at := time.Now()
			if !ok {
				return nil, at, fmt.Errorf("watch ended while waiting for %s (last: %s)", what, describe(w.last))
			}
			p := ev.Pod
			w.last = &p
			if ev.Type == "DELETED" {
				return nil, at, fmt.Errorf("pod deleted while waiting for %s (last: %s)", what, describe(w.last))
			}
			if cond(&p) {
				return &p, at, nil
			}
			if p.Status.Phase == v1.PodFailed || p.Status.Phase == v1.PodSucceeded {
				return nil, at, fmt.Errorf("pod ended without %s: %s", what, describe(w.last))
			}
		case <-timer.C:
			return nil, time.Now(), fmt.Errorf("no %s within %s (last: %s)", what, timeout, describe(w.last))
		case <-ctx.Done():
			return nil, time.Now(), ctx.Err()
		}
	}
}

// describe is a one-line account of a pod's status for error messages.
func describe(p *v1.Pod) string {
	if p == nil {
		return "no event"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s", p.Status.Phase)
	if p.Status.Reason != "" {
		fmt.Fprintf(&b, " reason %s", p.Status.Reason)
	}
	if p.Status.Message != "" {
		fmt.Fprintf(&b, " message %q", p.Status.Message)
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch s := cs.State; {
		case s.Running != nil:
			fmt.Fprintf(&b, "; %s running", cs.Name)
		case s.Waiting != nil:
			fmt.Fprintf(&b, "; %s waiting %s %s", cs.Name, s.Waiting.Reason, s.Waiting.Message)
		case s.Terminated != nil:
			fmt.Fprintf(&b, "; %s terminated %s exit %d", cs.Name, s.Terminated.Reason, s.Terminated.ExitCode)
		}
	}
	return b.String()
}

// mainStatus is the status of the pod's container "main", or nil.
func mainStatus(p *v1.Pod) *v1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == "main" {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// isRunning: phase Running with container main running under a known ID.
func isRunning(p *v1.Pod) bool {
	cs := mainStatus(p)
	return p.Status.Phase == v1.PodRunning && cs != nil && cs.State.Running != nil && cs.ContainerID != ""
}

// isOOMKilled: container main terminated with reason OOMKilled.
func isOOMKilled(p *v1.Pod) bool {
	cs := mainStatus(p)
	return cs != nil && cs.State.Terminated != nil && cs.State.Terminated.Reason == "OOMKilled"
}

// isEvicted: phase Failed with reason Evicted.
func isEvicted(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodFailed && p.Status.Reason == "Evicted"
}

// containerID strips the runtime prefix from a container status's ID.
func containerID(cs *v1.ContainerStatus) string {
	_, id, ok := strings.Cut(cs.ContainerID, "://")
	if !ok {
		return cs.ContainerID
	}
	return id
}
