package probes

import (
	"context"
	"fmt"
	"log/slog"
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
	// due is when run() scheduled the current probe: the first probe time,
	// a tick of the period, or the moment of a trigger. Zero when doProbe is
	// called directly; it only feeds the debug "probe" log line.
	due        time.Time
	lastResult result
	resultRun  int
	onHold     bool // a liveness/startup kill was requested; probe no more
	// probedStarted: a probe ran with the startup probe passed (a trigger
	// then asks for nothing new).
	probedStarted bool
	memo          any // the observer's, see Observation.Memo

	// plan is set when the network loop can run this probe; onLoop when
	// it does (the loop then is the worker's goroutine: see netloop.go).
	plan   *netPlan
	onLoop bool
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
func (w *worker) stop() {
	w.cancel()
	if w.onLoop {
		w.m.loop.post(loopMsg{kind: msgStop, w: w})
	}
}

// poke asks the worker for a probe now (see run's trigger).
func (w *worker) poke() {
	if w.onLoop {
		w.m.loop.post(loopMsg{kind: msgTrigger, w: w})
		return
	}
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

// run probes first when initialDelaySeconds have passed since the container
// started, then every periodSeconds (or at once when triggered) until the
// worker is stopped or has nothing left to do.
func (w *worker) run() {
	defer close(w.done)
	defer w.cancel()
	if f, ok := w.m.prober.(forgetter); ok {
		defer f.forget(w.spec)
	}

	clk := w.m.clock
	w.due = w.m.firstDue(w, clk.Now())
	if wait := w.due.Sub(clk.Now()); wait > 0 {
		// A trigger (the startup probe succeeded) ends the start jitter's
		// wait once initialDelaySeconds have passed: readiness runs at once.
		t := clk.NewTimer(wait)
		for waiting := true; waiting; {
			select {
			case <-w.ctx.Done():
				t.Stop()
				return
			case <-t.C():
				waiting = false
			case <-w.trigger:
				if now := clk.Now(); !now.Before(w.firstProbeAt()) {
					t.Stop()
					w.due, waiting = now, false
				}
			}
		}
	}
	select { // a trigger from before the first probe is moot
	case <-w.trigger:
	default:
	}
	if now := clk.Now(); w.due.Before(now) {
		w.due = now // started late (e.g. re-adopted after an agent restart)
	}
	period := seconds(w.spec.PeriodSeconds)
	now := clk.Now()
	// Ticks fall on the Manager's grid, so that workers whose ticks share a
	// grid point are woken together (see alignTick).
	tickStart := w.m.alignTick(now)
	prevTick := tickStart
	tick := clk.NewTimer(tickStart.Add(period).Sub(now))
	defer tick.Stop()
	for w.doProbe(w.ctx) {
	wait:
		select {
		case <-w.ctx.Done():
			return
		case <-tick.C():
			now := clk.Now()
			w.due = lastTick(tickStart, now, period)
			if n := missedTicks(prevTick, w.due, period); n > 0 {
				w.m.behind(w, 0, n, 0)
			}
			prevTick = w.due
			tick.Reset(w.due.Add(period).Sub(now))
		case <-w.trigger:
			if w.probedStarted {
				// The startup probe's success came while this worker was
				// already probing past it: nothing to catch up on.
				goto wait
			}
			w.due = clk.Now()
		}
	}
}

// lastTick is the latest tick of ticks that started at start with the given
// period that is not after now.
func lastTick(start, now time.Time, period time.Duration) time.Time {
	if now.Before(start) || period <= 0 {
		return start
	}
	return start.Add(now.Sub(start) / period * period)
}

func (w *worker) firstProbeAt() time.Time {
	return w.inst.target.StartedAt.Add(seconds(w.spec.InitialDelaySeconds))
}

// gateResult is what gate decides before a probe step.
type gateResult int

const (
	gateStop  gateResult = iota // the worker is done
	gateSkip                    // nothing to probe this step; go on
	gateProbe                   // probe now
)

// gate decides whether this step probes: not once the worker is stopped or
// a kill is on hold, not while the startup probe has not passed (for the
// other probes), not before initialDelaySeconds; a startup worker is done
// once its probe passed.
func (w *worker) gate(ctx context.Context) gateResult {
	if ctx.Err() != nil {
		return gateStop
	}
	if w.onHold {
		return gateSkip
	}
	started := w.m.isStarted(w.inst)
	if w.kind == Startup && started {
		return gateStop // its job is done; Started stays true for this instance
	}
	if w.kind != Startup && !started {
		return gateSkip // gated by the startup probe
	}
	if w.m.clock.Now().Before(w.firstProbeAt()) {
		return gateSkip
	}
	w.probedStarted = started
	return gateProbe
}

// doProbe runs one probe step and reports whether the worker should go on.
func (w *worker) doProbe(ctx context.Context) (keepGoing bool) {
	switch w.gate(ctx) {
	case gateStop:
		return false
	case gateSkip:
		return true
	}
	// The container's exec path is readied first, outside the exec slots.
	if !w.waitPrepared(ctx) {
		return false
	}

	// The timeout of a probe counts from here, once it has its exec slot:
	// time spent waiting for one is the agent's, not the container's.
	wait, release, err := w.acquireSlot(ctx)
	if err != nil {
		return false // stopped while waiting
	}
	begin := w.m.clock.Now()
	out, output, err := w.probeWithRetries(ctx)
	release()
	if ctx.Err() != nil {
		return false // stopped while probing: the result belongs to nobody
	}
	return w.settle(begin, wait, out, output, err)
}

// steady reports whether a probe result would change nothing: a success
// after enough successes in a row. settle then only counts it, logs it and
// tells publish what it already knows, none of which can block.
func (w *worker) steady(out outcome, err error) bool {
	return err == nil && out == outcomeSuccess && w.lastResult == resultSuccess &&
		w.resultRun >= int(w.spec.SuccessThreshold) && w.kind != Startup
}

// settle takes the result of the probe that began at begin (after wait for
// an exec slot): events, the run of equal results, publishing, a kill. It
// reports whether the worker should go on.
func (w *worker) settle(begin time.Time, wait time.Duration, out outcome, output string, err error) (keepGoing bool) {
	t := &w.inst.target
	w.logProbe(begin, wait, out, err)
	if err != nil {
		w.m.event(t.PodUID, t.ContainerName, EventWarning, ReasonUnhealthy, fmt.Sprintf("%s probe errored: %v", w.kind, err))
		w.m.log.Debug("probe errored", "probe", string(w.kind), "pod", t.Namespace+"/"+t.PodName,
			"container", t.ContainerName, "error", err)
		return true // an error is thrown away, it counts neither way
	}
	res := resultSuccess
	switch out {
	case outcomeFailure:
		res = resultFailure
		w.m.event(t.PodUID, t.ContainerName, EventWarning, ReasonUnhealthy, fmt.Sprintf("%s probe failed: %s", w.kind, output))
	case outcomeWarning:
		w.m.event(t.PodUID, t.ContainerName, EventWarning, ReasonProbeWarning, fmt.Sprintf("%s probe warning: %s", w.kind, output))
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

// logProbe writes the debug line scripts/bench-probes.sh measures: when the
// probe began (unix µs, once it had its exec slot), how long it took, how
// late it began against its schedule (µs; -1 when doProbe was not called by
// run()) and how much of that it waited for an exec slot.
func (w *worker) logProbe(begin time.Time, wait time.Duration, out outcome, err error) {
	log := w.m.log
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	late := int64(-1)
	if !w.due.IsZero() {
		late = max(begin.Sub(w.due).Microseconds(), 0)
	}
	res := "success"
	switch {
	case err != nil:
		res = "error"
	case out == outcomeFailure:
		res = "failure"
	}
	t := &w.inst.target
	log.Debug("probe", "probe", string(w.kind), "pod", t.Namespace+"/"+t.PodName, "container", t.ContainerName,
		"result", res, "begin_us", begin.UnixMicro(),
		"latency_us", w.m.clock.Since(begin).Microseconds(), "late_us", late, "wait_us", wait.Microseconds())
}

func (w *worker) probeWithRetries(ctx context.Context) (outcome, string, error) {
	var (
		out    outcome
		output string
		err    error
	)
	for i := 0; i < maxProbeRetries; i++ {
		out, output, err = w.observed(ctx)
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
