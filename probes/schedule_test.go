package probes

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/runtime"
)

func TestFirstDueJitter(t *testing.T) {
	const period = 10 * time.Second
	tests := []struct {
		name       string
		managerAge time.Duration // how long the Manager has run at t0
		startedAgo time.Duration // how long before t0 the container started
		delay      int32         // initialDelaySeconds
		r          float64       // the random draw
		want       time.Duration // from t0
	}{
		{"fresh agent, fresh container: jittered", 0, 0, 0, 0.25, 2500 * time.Millisecond},
		{"fresh agent, draw 0", 0, 0, 0, 0, 0},
		{"agent up a while, fresh container: none", time.Hour, 0, 0, 0.25, 0},
		{"initial delay later than the jitter wins", 0, 0, 5, 0.25, 5 * time.Second},
		{"jitter later than the initial delay wins", 0, 0, 1, 0.5, 5 * time.Second},
		{"re-adopted long-running container: jittered", time.Hour, time.Hour, 0, 0.75, 7500 * time.Millisecond},
		{"overdue by less than a period: at once", time.Hour, 3 * time.Second, 0, 0.75, -3 * time.Second},
		{"agent younger than the period", 9 * time.Second, 0, 0, 0.5, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &v1.Container{Name: "web", LivenessProbe: execProbe(v1.Probe{PeriodSeconds: 10, InitialDelaySeconds: tc.delay})}
			f := newFixture(t, c)
			f.m.start = t0.Add(-tc.managerAge)
			f.m.rand = func() float64 { return tc.r }
			f.inst.target.StartedAt = t0.Add(-tc.startedAgo)
			if got := f.m.firstDue(f.inst.workers[Liveness], t0).Sub(t0); got != tc.want {
				t.Fatalf("first probe at t0%+v, want t0%+v", got, tc.want)
			}
		})
	}

	// With the real random source every jitter lies in [0, period).
	f := newFixture(t, &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 10})})
	w := f.inst.workers[Readiness]
	var lo, hi time.Duration = period, 0
	for range 2000 {
		d := f.m.firstDue(w, t0).Sub(t0)
		if d < 0 || d >= period {
			t.Fatalf("jitter %v outside [0, %v)", d, period)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < period/2 {
		t.Fatalf("2000 draws spread over only [%v, %v]", lo, hi)
	}
}

// gateProber holds every probe until released and records how many ran at
// once.
type gateProber struct {
	mu           sync.Mutex
	running, max int
	done         int
	gate         chan struct{}
}

func (p *gateProber) probe(ctx context.Context, _ ProbeType, _ *Target, _ *v1.Probe) (outcome, string, error) {
	p.mu.Lock()
	p.running++
	p.max = max(p.max, p.running)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running--
		p.done++
		p.mu.Unlock()
	}()
	select {
	case <-p.gate:
	case <-ctx.Done():
	}
	return outcomeSuccess, "", nil
}

func (p *gateProber) snapshot() (running, max, done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running, p.max, p.done
}

func TestExecConcurrencyIsBounded(t *testing.T) {
	p := &gateProber{gate: make(chan struct{})}
	clk := clocktesting.NewFakeClock(t0)
	m := newManager(p, clk, nil, nil, nil, nil, WithExecConcurrency(2))
	m.start = t0.Add(-time.Hour)
	t.Cleanup(m.Stop)
	for i := range 5 {
		c := &v1.Container{Name: "sh", LivenessProbe: execProbe(v1.Probe{PeriodSeconds: 10, TimeoutSeconds: 1})}
		m.AddContainer(target(fmt.Sprint("c", i), fmt.Sprint("p", i), c))
	}
	waitFor(t, 2*time.Second, "two running, three waiting", func() bool {
		s := m.Stats()
		return s.ExecRunning == 2 && s.ExecWaiting == 3
	})
	if running, most, _ := p.snapshot(); running != 2 || most != 2 {
		t.Fatalf("running %d, at most %d at once; want 2 with a limit of 2", running, most)
	}
	close(p.gate)
	waitFor(t, 2*time.Second, "all five probed", func() bool { _, _, done := p.snapshot(); return done == 5 })
	if _, most, _ := p.snapshot(); most != 2 {
		t.Fatalf("%d exec probes ran at once, limit 2", most)
	}
	s := m.Stats()
	if s.ExecSlots != 2 || s.ExecStarted != 5 || s.ExecRunning != 0 || s.ExecWaiting != 0 {
		t.Fatalf("stats %+v", s)
	}
	if d := DefaultExecConcurrency(); d < 4 || newManager(p, clk, nil, nil, nil, nil).Stats().ExecSlots != d {
		t.Fatalf("default exec concurrency %d", d)
	}
}

// slowExecer blocks the first Exec until released; every call records the
// timeout it was given and how much time its context had left.
type slowExecer struct {
	mu      sync.Mutex
	first   chan struct{}
	calls   int
	timeout []time.Duration
	left    []time.Duration
}

func (e *slowExecer) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration, maxOut int) (runtime.ExecResult, error) {
	deadline, _ := ctx.Deadline()
	e.mu.Lock()
	e.calls++
	n := e.calls
	e.timeout = append(e.timeout, timeout)
	e.left = append(e.left, time.Until(deadline))
	e.mu.Unlock()
	if n == 1 {
		<-e.first
	}
	return runtime.ExecResult{}, nil
}

func (e *slowExecer) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

// A probe that waits for its slot longer than its timeout (and its period)
// is not timed while it waits: it runs only once it has the slot, the
// Execer (whose timer starts with the process) gets the whole timeout, the
// probe succeeds, its begin and latency leave the wait out, and the wait is
// counted and logged as a late start.
func TestTimeoutCountsFromProbeStart(t *testing.T) {
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := &slowExecer{first: make(chan struct{})}
	clk := clocktesting.NewFakeClock(t0)
	rec := &recorder{}
	m := NewManager(e, clk, rec, rec, rec.onChange, log, WithExecConcurrency(1))
	m.start = t0.Add(-time.Hour)
	t.Cleanup(m.Stop)
	probe := func() *v1.Probe {
		return &v1.Probe{PeriodSeconds: 3, TimeoutSeconds: 1, FailureThreshold: 1,
			ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}}
	}
	m.AddContainer(target("a", "p1", &v1.Container{Name: "a", LivenessProbe: probe()}))
	waitFor(t, 2*time.Second, "first exec running", func() bool { return e.count() == 1 })
	m.AddContainer(target("b", "p2", &v1.Container{Name: "b", LivenessProbe: probe()}))
	waitFor(t, 2*time.Second, "second probe waiting", func() bool { return m.Stats().ExecWaiting == 1 })

	clk.Step(5 * time.Second) // b waits 5 s: longer than its 1 s timeout and 3 s period
	close(e.first)
	waitFor(t, 2*time.Second, "second exec ran", func() bool { return e.count() >= 2 })
	lineOfB := func() string {
		for _, l := range buf.lines("probe") {
			if strings.Contains(l, "container=b ") {
				return l
			}
		}
		return ""
	}
	waitFor(t, 2*time.Second, "probe line of b", func() bool { return lineOfB() != "" })

	e.mu.Lock()
	timeout, left := e.timeout[1], e.left[1]
	e.mu.Unlock()
	if timeout != time.Second || left < time.Second {
		t.Fatalf("after waiting 5 s the exec got timeout %v with %v left on its context; want the whole 1 s", timeout, left)
	}
	if _, kills, _ := rec.snapshot(); len(kills) != 0 {
		t.Fatalf("a probe that only waited for its slot was failed: kills %+v", kills)
	}
	if line := lineOfB(); !strings.Contains(line, "result=success") || !strings.Contains(line, "wait_us=5000000") ||
		!strings.Contains(line, "begin_us="+itoa(t0.Add(5*time.Second).UnixMicro())) {
		t.Fatalf("probe line of b = %q, want success, begin after the 5 s wait, wait_us=5000000", line)
	}
	s := m.Stats()
	if s.ExecWaitTotal != 5*time.Second || s.ExecWaitMax != 5*time.Second || s.LateStarts != 1 {
		t.Fatalf("stats %+v, want 5 s waited, one late start", s)
	}
	if warns := buf.lines("\"probes are falling behind their schedule: the host is saturated\""); len(warns) != 1 ||
		!strings.Contains(warns[0], "late_starts=1") || !strings.Contains(warns[0], "container=ns/pod-p2:b") {
		t.Fatalf("saturation warnings %q", warns)
	}
}

// A probe that runs past its next ticks makes the worker miss them.
func TestMissedTicksAreCounted(t *testing.T) {
	p := &gateProber{gate: make(chan struct{})}
	clk := clocktesting.NewFakeClock(t0)
	m := newManager(p, clk, nil, nil, nil, nil)
	m.start = t0.Add(-time.Hour)
	t.Cleanup(m.Stop)
	m.AddContainer(target("c1", "p1", &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 1})}))
	waitFor(t, 2*time.Second, "probe running, ticker armed", func() bool {
		running, _, _ := p.snapshot()
		return running == 1 && clk.HasWaiters()
	})
	clk.Step(3500 * time.Millisecond) // ticks at 1 s, 2 s, 3 s pass during the probe
	p.gate <- struct{}{}
	waitFor(t, 2*time.Second, "second probe", func() bool {
		running, _, done := p.snapshot()
		return done == 1 && running == 1
	})
	if n := m.Stats().MissedTicks; n != 2 {
		t.Fatalf("missed ticks = %d, want 2 (the 3 s tick ran the next probe; 1 s and 2 s were missed)", n)
	}
	close(p.gate)
}

func TestMissedTicksMath(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		prev, tick time.Duration
		want       uint64
	}{{0, s, 0}, {0, 3 * s, 2}, {2 * s, 2 * s, 0}, {3 * s, 2 * s, 0}} {
		if got := missedTicks(t0.Add(tc.prev), t0.Add(tc.tick), s); got != tc.want {
			t.Errorf("missedTicks(%v, %v) = %d, want %d", tc.prev, tc.tick, got, tc.want)
		}
	}
}

func TestSaturationWarningIsRateLimited(t *testing.T) {
	buf := &syncBuffer{}
	f := newFixture(t, &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{})})
	f.m.log = slog.New(slog.NewTextHandler(buf, nil))
	w := f.inst.workers[Readiness]
	warns := func() []string {
		return buf.lines("\"probes are falling behind their schedule: the host is saturated\"")
	}
	f.m.behind(w, 1, 0, 2*time.Second)
	f.m.behind(w, 0, 3, 0)
	f.clk.Step(29 * time.Second)
	f.m.behind(w, 1, 0, time.Second)
	if n := len(warns()); n != 1 {
		t.Fatalf("%d warnings within 30 s, want 1", n)
	}
	f.clk.Step(time.Second)
	f.m.behind(w, 0, 1, 0)
	got := warns()
	if len(got) != 2 || !strings.Contains(got[1], "late_starts=1 missed_ticks=4") {
		t.Fatalf("warnings %q, want a second one summing what happened since the first", got)
	}
	if s := f.m.Stats(); s.LateStarts != 2 || s.MissedTicks != 4 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWaitObserverIsToldEachExecWait(t *testing.T) {
	m := NewManager(nil, clocktesting.NewFakeClock(time.Now()), nil, nil, nil, nil)
	var waits []time.Duration
	m.SetWaitObserver(func(d time.Duration) { waits = append(waits, d) })
	w := &worker{m: m, spec: &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 10}}
	_, release, err := w.acquireSlot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	release()
	if len(waits) != 1 || waits[0] != 0 {
		t.Fatalf("waits = %v, want one zero wait", waits)
	}
}
