package probes

import (
	"time"
)

// The network loop's side of a worker: the schedule worker.run keeps for a
// worker goroutine, kept here per probe (see netloop.go). Each step goes
// through the worker's own gate and settle, so what a probe's result does
// is the same on both paths.

// loopProbe is one worker on the loop.
type loopProbe struct {
	w    *worker
	plan *netPlan
	at   time.Time // when the loop acts on it next (in timed if idx >= 0)
	idx  int

	waitingFirst bool // before the first probe (worker.run's first wait)
	period       time.Duration
	tickStart    time.Time // worker.run's tickStart, prevTick
	prevTick     time.Time
	nextTick     time.Time

	busy      bool      // an attempt, or the settling of its result, is under way
	away      bool      // ... on a goroutine of its own: the loop waits for its message
	triggered bool      // a trigger came while busy
	stopped   bool      // the worker was stopped; dropped once it is not away
	tries     int       // attempts of this probe (errors are tried again)
	stale     bool      // this attempt already retried after a stale namespace
	begin     time.Time // of the probe (its first try)
	tryBegin  time.Time // of this try
	deadline  time.Time // of this try, on the Manager's clock
	run       *netRun   // the attempt on the loop's sockets
}

// addProbe takes on w: its first probe is due as worker.run would make it.
func (s *loopState) addProbe(w *worker, now time.Time) {
	lp := &loopProbe{w: w, plan: w.plan, idx: -1, waitingFirst: true}
	s.probes[w] = lp
	w.due = s.m.firstDue(w, now)
	if w.due.After(now) {
		s.at(lp, w.due)
		return
	}
	s.beginTicking(lp, now)
}

// beginTicking ends the first wait: ticks from now on, on the grid.
func (s *loopState) beginTicking(lp *loopProbe, now time.Time) {
	w := lp.w
	lp.waitingFirst = false
	if w.due.Before(now) {
		w.due = now // started late
	}
	lp.period = seconds(w.spec.PeriodSeconds)
	lp.tickStart = s.m.alignTick(now)
	lp.prevTick = lp.tickStart
	lp.nextTick = lp.tickStart.Add(lp.period)
	s.step(lp, now)
}

// due acts on lp whose time came: the end of its first wait, or a tick.
func (s *loopState) due(lp *loopProbe, now time.Time) {
	if lp.waitingFirst {
		s.beginTicking(lp, now)
		return
	}
	w := lp.w
	w.due = lastTick(lp.tickStart, now, lp.period)
	if n := missedTicks(lp.prevTick, w.due, lp.period); n > 0 {
		s.m.behind(w, 0, n, 0)
	}
	lp.prevTick = w.due
	lp.nextTick = w.due.Add(lp.period)
	s.step(lp, now)
}

// trigger asks for a probe now, as a worker goroutine's trigger does.
func (s *loopState) trigger(lp *loopProbe, now time.Time) {
	w := lp.w
	switch {
	case lp.stopped:
	case lp.waitingFirst:
		if !now.Before(w.firstProbeAt()) {
			s.untime(lp)
			w.due = now
			s.beginTicking(lp, now)
		}
	case lp.busy:
		lp.triggered = true
	case !w.probedStarted:
		s.untime(lp)
		w.due = now
		s.step(lp, now)
	}
}

// step is one worker.doProbe step: gate, then an attempt, or the next tick.
func (s *loopState) step(lp *loopProbe, now time.Time) {
	switch lp.w.gate(lp.w.ctx) {
	case gateStop:
		s.drop(lp)
	case gateSkip:
		s.at(lp, lp.nextTick)
	default:
		lp.busy, lp.tries, lp.begin = true, 0, now
		s.attempt(lp)
	}
}

// attemptDone takes the result of one try: another try after an error
// (as worker.probeWithRetries), else the probe's result, settled.
func (s *loopState) attemptDone(lp *loopProbe, out outcome, output string, err error) {
	w := lp.w
	if lp.stopped || w.ctx.Err() != nil {
		s.drop(lp) // the result belongs to nobody
		return
	}
	if err == nil {
		s.observed(lp, lp.tryBegin, out)
	}
	if err != nil && lp.tries < maxProbeRetries {
		s.attempt(lp)
		return
	}
	if w.steady(out, err) {
		s.settled(lp, w.settle(lp.begin, 0, out, output, err), s.m.clock.Now())
		return
	}
	lp.away = true
	go func() {
		keep := w.settle(lp.begin, 0, out, output, err)
		s.l.post(loopMsg{kind: msgSettled, w: w, keep: keep})
	}()
}

// observed tells the Manager's observer of a try that gave a result.
func (s *loopState) observed(lp *loopProbe, begin time.Time, out outcome) {
	m := s.m
	if m.observe == nil {
		return
	}
	w := lp.w
	t := &w.inst.target
	m.observe(Observation{
		Type: w.kind, PodUID: t.PodUID, Namespace: t.Namespace, PodName: t.PodName, ContainerName: t.ContainerName,
		Success: out != outcomeFailure, Duration: m.clock.Since(begin), Memo: &w.memo,
	})
}

// settled goes on after a settled result, as worker.run does after
// doProbe: done, a trigger that came meanwhile, or the next tick.
func (s *loopState) settled(lp *loopProbe, keep bool, now time.Time) {
	lp.busy = false
	if !keep || lp.stopped {
		s.drop(lp)
		return
	}
	if lp.triggered {
		lp.triggered = false
		if !lp.w.probedStarted {
			lp.w.due = now
			s.step(lp, now)
			return
		}
	}
	s.at(lp, lp.nextTick)
}

// drop ends lp's worker: what worker.run does when it returns.
func (s *loopState) drop(lp *loopProbe) {
	if s.probes[lp.w] != lp {
		return
	}
	delete(s.probes, lp.w)
	if lp.run != nil {
		s.closeRun(lp.run)
	}
	s.untime(lp)
	for i, q := range s.starting {
		if q == lp {
			s.starting = append(s.starting[:i], s.starting[i+1:]...)
			break
		}
	}
	w := lp.w
	w.cancel()
	if f, ok := s.m.prober.(forgetter); ok {
		f.forget(w.spec)
	}
	close(w.done)
	s.m.wg.Done()
}
