package probes

import (
	"context"
	"time"
)

// Observation is one probe run that gave a result, for metrics.
type Observation struct {
	Type                                      ProbeType
	PodUID, Namespace, PodName, ContainerName string
	// Success is false for a failure; a warning is a success, as for the
	// probe's own result.
	Success bool
	// Duration is how long the run took on the Manager's clock.
	Duration time.Duration
	// Memo is the same slot for every run of one probe of one container
	// instance, and only that probe's runs are told it: the observer may
	// keep what it looked up for the probe there (its metric series, say)
	// instead of looking it up again on every run. The Manager never
	// reads it.
	Memo *any
}

// SetObserver makes the Manager tell f about every probe run that gave a
// result. Runs that errored are not told: they count neither way, as in
// kubelet. Neither are runs cut short because the probe was stopped. f is
// called from the probe's worker goroutine and must not block. Call
// SetObserver before the first AddContainer; a nil f does nothing.
func (m *Manager) SetObserver(f func(Observation)) {
	if f != nil {
		m.observe = f
	}
}

// SetWaitObserver makes the Manager tell f how long each exec probe waited
// for one of the bounded exec slots (0 when one was free). Network probes
// never wait. f must not block; call it before the first AddContainer.
func (m *Manager) SetWaitObserver(f func(time.Duration)) { m.onWait = f }

// observed runs the probe once and tells the observer, if any, of a run
// that gave a result.
func (w *worker) observed(ctx context.Context) (outcome, string, error) {
	m := w.m
	if m.observe == nil {
		return m.prober.probe(ctx, w.kind, &w.inst.target, w.spec)
	}
	begin := m.clock.Now()
	out, output, err := m.prober.probe(ctx, w.kind, &w.inst.target, w.spec)
	if err == nil && ctx.Err() == nil {
		t := &w.inst.target
		m.observe(Observation{
			Type: w.kind, PodUID: t.PodUID, Namespace: t.Namespace, PodName: t.PodName, ContainerName: t.ContainerName,
			Success: out != outcomeFailure, Duration: m.clock.Since(begin), Memo: &w.memo,
		})
	}
	return out, output, err
}
