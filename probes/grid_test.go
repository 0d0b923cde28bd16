package probes

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestAlignTick(t *testing.T) {
	const g = 250 * time.Millisecond
	ms := time.Millisecond
	for _, tc := range []struct {
		grid     time.Duration
		at, want time.Duration // from t0, which lies on the grid
	}{
		{g, 0, 0},
		{g, 1, g},
		{g, 100 * ms, g},
		{g, g, g},
		{g, g + 1, 2 * g},
		{g, 999 * ms, time.Second},
		{0, 100 * ms, 100 * ms},
		{-g, 100 * ms, 100 * ms},
	} {
		m := newManager(newScriptProber(), nil, nil, nil, nil, nil, WithTickGrid(tc.grid))
		if got := m.alignTick(t0.Add(tc.at)).Sub(t0); got != tc.want {
			t.Errorf("grid %v: alignTick(t0+%v) = t0+%v, want t0+%v", tc.grid, tc.at, got, tc.want)
		}
	}
}

// The start jitter lands on the grid, inside [now, now+period), and uses
// every grid slot of the period.
func TestJitterOnGrid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		now    time.Duration // from t0
		period time.Duration
	}{
		{"aligned now, 1 s", 0, time.Second},
		{"unaligned now, 1 s", 100 * time.Millisecond, time.Second},
		{"unaligned now, 10 s", 7 * time.Millisecond, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(newScriptProber(), nil, nil, nil, nil, nil)
			now := t0.Add(tc.now)
			slots := map[time.Time]bool{}
			for range 4000 {
				j := m.jitter(now, tc.period)
				if j.Before(now) || !j.Before(now.Add(tc.period)) {
					t.Fatalf("jitter at now%+v, outside [0, %v)", j.Sub(now), tc.period)
				}
				if !j.Truncate(DefaultTickGrid).Equal(j) {
					t.Fatalf("jitter at t0+%v is off the %v grid", j.Sub(t0), DefaultTickGrid)
				}
				slots[j] = true
			}
			if want := int(tc.period / DefaultTickGrid); len(slots) != want {
				t.Fatalf("jitter used %d grid slots, want all %d", len(slots), want)
			}
		})
	}
	// A grid as coarse as the period is not applied.
	m := newManager(newScriptProber(), nil, nil, nil, nil, nil, WithTickGrid(time.Second))
	m.rand = func() float64 { return 0.3 }
	if got := m.jitter(t0, time.Second).Sub(t0); got != 300*time.Millisecond {
		t.Fatalf("jitter with a grid of one period: %v, want 300ms", got)
	}
}

// timeProber records the fake clock's time at each probe.
type timeProber struct {
	clk *clocktesting.FakeClock
	mu  sync.Mutex
	at  []time.Duration // from t0
}

func (p *timeProber) probe(context.Context, ProbeType, *Target, *v1.Probe) (outcome, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at = append(p.at, p.clk.Now().Sub(t0))
	return outcomeSuccess, "", nil
}

func (p *timeProber) times() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.at...)
}

// A fresh container is probed first exactly at its start (plus
// initialDelaySeconds); its ticks then fall on the grid, one period apart,
// also after a tick was served late.
func TestTicksFallOnGrid(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		grid  time.Duration
		steps []time.Duration // clock steps after the first probe
		want  []time.Duration // probe times from t0
	}{
		{"default grid", DefaultTickGrid,
			[]time.Duration{1150 * ms, time.Second, 1100 * ms, 900 * ms},
			[]time.Duration{100 * ms, 1250 * ms, 2250 * ms, 3350 * ms, 4250 * ms}},
		{"no grid", 0,
			[]time.Duration{time.Second, time.Second, 1100 * ms, 900 * ms},
			[]time.Duration{100 * ms, 1100 * ms, 2100 * ms, 3200 * ms, 4100 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0.Add(100 * ms))
			p := &timeProber{clk: clk}
			m := newManager(p, clk, nil, nil, nil, nil, WithTickGrid(tc.grid))
			m.start = t0.Add(-time.Hour) // no start jitter
			t.Cleanup(m.Stop)
			tg := target("c1", "p1", &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 1})})
			tg.StartedAt = clk.Now()
			m.AddContainer(tg)
			for i, step := range append([]time.Duration{0}, tc.steps...) {
				if step > 0 {
					waitFor(t, 2*time.Second, "the worker waiting for its tick", clk.HasWaiters)
					clk.Step(step)
				}
				waitFor(t, 2*time.Second, "a probe", func() bool { return len(p.times()) > i })
			}
			got := p.times()
			if len(got) != len(tc.want) {
				t.Fatalf("probes at %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("probes at %v, want %v", got, tc.want)
				}
			}
		})
	}
}
