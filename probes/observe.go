package probes

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
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
}

// SetObserver makes the Manager tell f about every probe run that gave a
// result. Runs that errored are not told: they count neither way, as in
// kubelet. Neither are runs cut short because the probe was stopped. f is
// called from the probe's worker goroutine and must not block. Call
// SetObserver before the first AddContainer; a nil f does nothing.
func (m *Manager) SetObserver(f func(Observation)) {
	if f == nil {
		return
	}
	m.prober = &observedProber{next: m.prober, clock: m.clock, observe: f}
}

// SetWaitObserver makes the Manager tell f how long each exec probe waited
// for one of the bounded exec slots (0 when one was free). Network probes
// never wait. f must not block; call it before the first AddContainer.
func (m *Manager) SetWaitObserver(f func(time.Duration)) { m.onWait = f }

// observedProber passes each probe run on and tells its result.
type observedProber struct {
	next    prober
	clock   clock.PassiveClock
	observe func(Observation)
}

func (o *observedProber) probe(ctx context.Context, kind ProbeType, t *Target, p *v1.Probe) (outcome, string, error) {
	begin := o.clock.Now()
	out, output, err := o.next.probe(ctx, kind, t, p)
	if err == nil && ctx.Err() == nil {
		o.observe(Observation{
			Type: kind, PodUID: t.PodUID, Namespace: t.Namespace, PodName: t.PodName, ContainerName: t.ContainerName,
			Success: out != outcomeFailure, Duration: o.clock.Since(begin),
		})
	}
	return out, output, err
}

func (o *observedProber) forget(p *v1.Probe) {
	if f, ok := o.next.(forgetter); ok {
		f.forget(p)
	}
}
