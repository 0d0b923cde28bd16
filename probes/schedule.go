package probes

import (
	"context"
	goruntime "runtime"
	"sync"
	"time"
)

// Option tunes a Manager.
type Option func(*Manager)

// DefaultTickGrid is the grid probe ticks are aligned to. Workers whose
// ticks fall on the same grid point are woken by one timer expiry of the Go
// runtime instead of one wake-up each, which is most of an idle node's
// probing cost; the price is that a worker's first period after its first
// probe is up to one grid step longer (kubelet's own first probe can be up
// to a whole period late).
const DefaultTickGrid = 250 * time.Millisecond

// WithTickGrid aligns probe ticks (and the start jitter) to multiples of d
// since the Unix epoch; d <= 0 turns the alignment off.
func WithTickGrid(d time.Duration) Option {
	return func(m *Manager) { m.tickGrid = max(d, 0) }
}

// WithExecConcurrency bounds how many exec probes run at once across all
// containers; n <= 0 keeps the default, DefaultExecConcurrency().
func WithExecConcurrency(n int) Option {
	return func(m *Manager) {
		if n > 0 {
			m.execSlots = make(chan struct{}, n)
		}
	}
}

// DefaultExecConcurrency is max(4, 2×NumCPU): enough to keep the runtime
// busy, few enough that a probe's command gets CPU to finish in time.
func DefaultExecConcurrency() int { return max(4, 2*goruntime.NumCPU()) }

// saturationLogEvery rate-limits the "probes are falling behind" warning.
const saturationLogEvery = 30 * time.Second

// Stats are running totals since the Manager was created, for metrics:
// the agent can export the counters as Prometheus counters and ExecRunning
// and ExecWaiting as gauges.
type Stats struct {
	ExecSlots   int // the exec concurrency bound
	ExecRunning int // exec probes holding a slot now
	ExecWaiting int // exec probes waiting for a slot now

	ExecStarted   uint64        // exec probes that got a slot
	ExecWaitTotal time.Duration // total time exec probes waited for a slot
	ExecWaitMax   time.Duration // the longest single wait
	// LateStarts counts probes that waited for a slot longer than their
	// period: the host cannot keep up with the exec probes it is asked for.
	LateStarts uint64
	// MissedTicks counts period ticks on which a worker could not start a
	// probe because its previous one (wait included) still ran.
	MissedTicks uint64
}

// schedStats is the Manager's mutable part of Stats.
type schedStats struct {
	mu sync.Mutex
	Stats
	// since the last saturation warning
	lastLog               time.Time
	lateSince, missSince  uint64
	worstSince            time.Duration
	worstProbe, worstWhom string
}

// Stats returns the scheduling counters.
func (m *Manager) Stats() Stats {
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	s := m.stats.Stats
	s.ExecSlots = cap(m.execSlots)
	return s
}

// acquireSlot waits for an exec slot if the probe is an exec probe, and
// returns how long it waited and the function that gives the slot back.
// It fails only when ctx ends first.
func (w *worker) acquireSlot(ctx context.Context) (time.Duration, func(), error) {
	if w.spec.Exec == nil {
		return 0, func() {}, nil
	}
	m := w.m
	queued := m.clock.Now()
	select {
	case m.execSlots <- struct{}{}: // free slot: no bookkeeping of a wait
	default:
		m.stats.mu.Lock()
		m.stats.ExecWaiting++
		m.stats.mu.Unlock()
		var err error
		select {
		case m.execSlots <- struct{}{}:
		case <-ctx.Done():
			err = ctx.Err()
		}
		m.stats.mu.Lock()
		m.stats.ExecWaiting--
		m.stats.mu.Unlock()
		if err != nil {
			return 0, nil, err
		}
	}
	wait := m.clock.Since(queued)
	m.stats.mu.Lock()
	m.stats.ExecRunning++
	m.stats.ExecStarted++
	m.stats.ExecWaitTotal += wait
	m.stats.ExecWaitMax = max(m.stats.ExecWaitMax, wait)
	m.stats.mu.Unlock()
	if m.onWait != nil {
		m.onWait(wait)
	}
	if wait > seconds(w.spec.PeriodSeconds) {
		m.behind(w, 1, 0, wait)
	}
	return wait, func() {
		<-m.execSlots
		m.stats.mu.Lock()
		m.stats.ExecRunning--
		m.stats.mu.Unlock()
	}, nil
}

// behind records late starts and missed ticks and warns, at most every
// saturationLogEvery, that probes fall behind their schedule.
func (m *Manager) behind(w *worker, late, missed uint64, wait time.Duration) {
	now := m.clock.Now()
	s := &m.stats
	s.mu.Lock()
	s.LateStarts += late
	s.MissedTicks += missed
	s.lateSince += late
	s.missSince += missed
	if wait >= s.worstSince {
		t := &w.inst.target
		s.worstSince, s.worstProbe, s.worstWhom = wait, string(w.kind), t.Namespace+"/"+t.PodName+":"+t.ContainerName
	}
	if !s.lastLog.IsZero() && now.Sub(s.lastLog) < saturationLogEvery {
		s.mu.Unlock()
		return
	}
	attrs := []any{"late_starts", s.lateSince, "missed_ticks", s.missSince,
		"exec_waiting", s.ExecWaiting, "exec_slots", cap(m.execSlots)}
	if s.worstWhom != "" {
		attrs = append(attrs, "longest_wait", s.worstSince, "probe", s.worstProbe, "container", s.worstWhom)
	}
	s.lastLog, s.lateSince, s.missSince, s.worstSince, s.worstProbe, s.worstWhom = now, 0, 0, 0, "", ""
	s.mu.Unlock()
	m.log.Warn("probes are falling behind their schedule: the host is saturated", attrs...)
}

// missedTicks is how many ticks of period lie strictly between prev and
// tick, both ticks of the same ticker.
func missedTicks(prev, tick time.Time, period time.Duration) uint64 {
	if period <= 0 || !tick.After(prev) {
		return 0
	}
	if n := tick.Sub(prev)/period - 1; n > 0 {
		return uint64(n)
	}
	return 0
}

// firstDue is when a worker created at now probes first: at the container's
// start plus initialDelaySeconds, but, like the kubelet right after it
// started, no earlier than a random fraction of the period from now when
// the Manager is younger than one period, so that re-adopted containers are
// not all probed at once. The same holds for an instance whose first probe
// is already a period or more overdue (re-adopted by a Manager that took
// longer than a period to get to it).
func (m *Manager) firstDue(w *worker, now time.Time) time.Time {
	due := w.firstProbeAt()
	period := seconds(w.spec.PeriodSeconds)
	if now.Sub(m.start) < period || now.Sub(due) >= period {
		if j := m.jitter(now, period); j.After(due) {
			due = j
		}
	}
	return due
}

// jitter is a random time in [now, now+period): with a grid finer than the
// period, one of the grid points in that interval, each as likely.
func (m *Manager) jitter(now time.Time, period time.Duration) time.Time {
	if m.tickGrid <= 0 || m.tickGrid >= period {
		return now.Add(time.Duration(m.rand() * float64(period)))
	}
	first := m.alignTick(now)
	slots := (now.Add(period).Sub(first) + m.tickGrid - 1) / m.tickGrid
	return first.Add(time.Duration(m.rand()*float64(slots)) * m.tickGrid)
}

// alignTick rounds t up to the Manager's tick grid (t itself if the grid
// is off or t lies on it).
func (m *Manager) alignTick(t time.Time) time.Time {
	if m.tickGrid <= 0 {
		return t
	}
	if r := t.Truncate(m.tickGrid); r.Before(t) {
		return r.Add(m.tickGrid)
	}
	return t
}
