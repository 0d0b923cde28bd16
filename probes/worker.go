package probes

import (
	"context"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
)

// maxProbeRetries is how often a handler that errors (as opposed to fails)
// is tried within one probe, like the kubelet.
const maxProbeRetries = 3

// worker runs one probe of one container instance. run() owns the timing;
// doProbe() is one step and is what tests drive.
type worker struct {
	m    *Manager
	inst *instance
	kind ProbeType
	spec *v1.Probe // defaults applied

	ctx    context.Context
	cancel context.CancelFunc
	// trigger asks for a probe now (readiness right after startup succeeded).
	trigger chan struct{}
	done    chan struct{}

	// Owned by the worker goroutine.
	lastResult result
	resultRun  int
	onHold     bool // a liveness/startup kill was requested; probe no more
}

func newWorker(m *Manager, inst *instance, kind ProbeType, p *v1.Probe) *worker {
	ctx, cancel := context.WithCancel(context.Background())
	return &worker{
		m: m, inst: inst, kind: kind, spec: withDefaults(kind, p),
		ctx: ctx, cancel: cancel,
		trigger: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

// stop cancels the worker (and any probe in flight) without waiting.
func (w *worker) stop() { w.cancel() }

// run probes first when initialDelaySeconds have passed since the container
// started, then every periodSeconds (or at once when triggered) until the
// worker is stopped or has nothing left to do.
func (w *worker) run() {
	defer close(w.done)
	defer w.cancel()

	clk := w.m.clock
	if wait := w.firstProbeAt().Sub(clk.Now()); wait > 0 {
		t := clk.NewTimer(wait)
		select {
		case <-w.ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
	select { // a trigger from before the first probe is moot
	case <-w.trigger:
	default:
	}
	ticker := clk.NewTicker(seconds(w.spec.PeriodSeconds))
	defer ticker.Stop()
	for w.doProbe(w.ctx) {
		select {
		case <-w.ctx.Done():
			return
		case <-ticker.C():
		case <-w.trigger:
		}
	}
}

func (w *worker) firstProbeAt() time.Time {
	return w.inst.target.StartedAt.Add(seconds(w.spec.InitialDelaySeconds))
}

// doProbe runs one probe step and reports whether the worker should go on.
func (w *worker) doProbe(ctx context.Context) (keepGoing bool) {
	if ctx.Err() != nil {
		return false
	}
	if w.onHold {
		return true
	}
	started := w.m.isStarted(w.inst)
	if w.kind == Startup && started {
		return false // its job is done; Started stays true for this instance
	}
	if w.kind != Startup && !started {
		return true // gated by the startup probe
	}
	if w.m.clock.Now().Before(w.firstProbeAt()) {
		return true
	}

	out, output, err := w.probeWithRetries(ctx)
	if ctx.Err() != nil {
		return false // stopped while probing: the result belongs to nobody
	}
	t := &w.inst.target
	if err != nil {
		w.m.event(t.PodUID, EventWarning, ReasonUnhealthy, fmt.Sprintf("%s probe errored: %v", w.kind, err))
		w.m.log.Debug("probe errored", "probe", string(w.kind), "pod", t.Namespace+"/"+t.PodName,
			"container", t.ContainerName, "error", err)
		return true // an error is thrown away, it counts neither way
	}
	res := resultSuccess
	switch out {
	case outcomeFailure:
		res = resultFailure
		w.m.event(t.PodUID, EventWarning, ReasonUnhealthy, fmt.Sprintf("%s probe failed: %s", w.kind, output))
	case outcomeWarning:
		w.m.event(t.PodUID, EventWarning, ReasonProbeWarning, fmt.Sprintf("%s probe warning: %s", w.kind, output))
	}

	if res == w.lastResult {
		w.resultRun++
	} else {
		w.lastResult = res
		w.resultRun = 1
	}
	if (res == resultFailure && w.resultRun < int(w.spec.FailureThreshold)) ||
		(res == resultSuccess && w.resultRun < int(w.spec.SuccessThreshold)) {
		return true // not enough in a row to change anything
	}
	if !w.m.publish(w, res) {
		return false // the instance was removed meanwhile
	}

	if res == resultFailure && (w.kind == Liveness || w.kind == Startup) {
		w.onHold = true
		w.resultRun = 0
		w.m.kill(w)
		return true
	}
	if res == resultSuccess && w.kind == Startup {
		return false
	}
	return true
}

func (w *worker) probeWithRetries(ctx context.Context) (outcome, string, error) {
	var (
		out    outcome
		output string
		err    error
	)
	for i := 0; i < maxProbeRetries; i++ {
		out, output, err = w.m.prober.probe(ctx, w.kind, &w.inst.target, w.spec)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	return out, output, err
}

// killMessage is the kubelet's text for the Killing event of a probe kill.
func killMessage(t *Target, kind ProbeType) string {
	msg := fmt.Sprintf("Container %s failed %s probe", t.ContainerName, strings.ToLower(string(kind)))
	if t.RestartPolicy != v1.RestartPolicyNever {
		msg += ", will be restarted"
	}
	return msg
}

// killGrace is the probe's terminationGracePeriodSeconds if set, else the pod's.
func killGrace(t *Target, p *v1.Probe) time.Duration {
	if p.TerminationGracePeriodSeconds != nil && *p.TerminationGracePeriodSeconds >= 0 {
		return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	if t.PodGracePeriod < 0 {
		return 0
	}
	return time.Duration(t.PodGracePeriod) * time.Second
}
