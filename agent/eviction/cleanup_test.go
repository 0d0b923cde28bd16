package eviction

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// runHarness runs a Manager's Run loop on a fake clock. Every clock waiter
// the loop has is a timer that leaves the clock when it fires or stops, so
// "the clock has a waiter" means the loop is parked: idle is the barrier
// after which the recorded state is settled.
type runHarness struct {
	t      *testing.T
	clk    *clocktesting.FakeClock
	start  time.Time
	cancel context.CancelFunc
	done   chan error
}

func startRun(t *testing.T, m *Manager, clk *clocktesting.FakeClock) *runHarness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &runHarness{t: t, clk: clk, start: clk.Now(), cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- m.Run(ctx) }()
	t.Cleanup(func() { _ = h.stop() })
	h.idle()
	return h
}

// idle waits (in real time, bounded) until the loop waits on the clock.
func (h *runHarness) idle() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !h.clk.HasWaiters() {
		if time.Now().After(deadline) {
			h.t.Fatal("Run never waited on the clock")
		}
		time.Sleep(time.Millisecond)
	}
}

// stop cancels Run and returns what it returned.
func (h *runHarness) stop() error {
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // for a second stop (Cleanup)
		return err
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return after cancel")
		return nil
	}
}

func offsets(start time.Time, ts []time.Time) []time.Duration {
	out := []time.Duration{}
	for _, at := range ts {
		out = append(out, at.Sub(start))
	}
	return out
}

type nodeRecord struct {
	evicted    []string
	evictedAt  []time.Time
	observedAt []time.Time
	polls      int
}

func (n *fakeNode) record() nodeRecord {
	n.mu.Lock()
	defer n.mu.Unlock()
	return nodeRecord{append([]string{}, n.evicted...), append([]time.Time{}, n.evictedAt...),
		append([]time.Time{}, n.observedAt...), n.polls}
}

// TestRunWaitsForCleanup drives Run second by second for 40 s after a first
// eviction at 0 s with memory.available below the hard threshold.
func TestRunWaitsForCleanup(t *testing.T) {
	s := time.Second
	tests := []struct {
		name         string
		cleanAt      map[string]time.Duration // pod UID -> cleaned up from this poll on
		recoverAt    time.Duration            // memory.available back to 800Mi (0: never)
		noCleanedUp  bool                     // ManagerConfig.PodCleanedUp is nil
		wantEvicted  []string
		wantAt       []time.Duration
		wantObserved []time.Duration // the first observations
	}{{
		name:         "never cleaned up: the next pod only after the 30s timeout",
		wantEvicted:  []string{"uid-hog", "uid-second"},
		wantAt:       []time.Duration{0, 30 * s},
		wantObserved: []time.Duration{0, 30 * s},
	}, {
		name:         "cleaned up and the signal back above the threshold: nothing more",
		cleanAt:      map[string]time.Duration{"uid-hog": 3 * s},
		recoverAt:    3 * s,
		wantEvicted:  []string{"uid-hog"},
		wantAt:       []time.Duration{0},
		wantObserved: []time.Duration{0, 3 * s, 4 * s, 5 * s},
	}, {
		name:         "cleaned up with the signal still below: the next in rank at once, and so on",
		cleanAt:      map[string]time.Duration{"uid-hog": 3 * s, "uid-second": 5 * s},
		wantEvicted:  []string{"uid-hog", "uid-second", "uid-third"},
		wantAt:       []time.Duration{0, 3 * s, 5 * s},
		wantObserved: []time.Duration{0, 3 * s, 5 * s},
	}, {
		name:         "memory back before the clean-up: no observation until it is done",
		cleanAt:      map[string]time.Duration{"uid-hog": 10 * s},
		recoverAt:    1 * s,
		wantEvicted:  []string{"uid-hog"},
		wantAt:       []time.Duration{0},
		wantObserved: []time.Duration{0, 10 * s, 11 * s},
	}, {
		name:         "clean-up after the timeout is too late",
		cleanAt:      map[string]time.Duration{"uid-hog": 31 * s},
		wantEvicted:  []string{"uid-hog", "uid-second"},
		wantAt:       []time.Duration{0, 30 * s},
		wantObserved: []time.Duration{0, 30 * s},
	}, {
		name:         "clean-up at the timeout's last poll counts",
		cleanAt:      map[string]time.Duration{"uid-hog": 30 * s},
		recoverAt:    30 * s,
		wantEvicted:  []string{"uid-hog"},
		wantAt:       []time.Duration{0},
		wantObserved: []time.Duration{0, 30 * s, 31 * s},
	}, {
		name:         "no PodCleanedUp: the full timeout",
		noCleanedUp:  true,
		recoverAt:    2 * s,
		wantEvicted:  []string{"uid-hog"},
		wantAt:       []time.Duration{0},
		wantObserved: []time.Duration{0, 30 * s, 31 * s},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &fakeNode{available: 50 * mi, pods: []PodStats{
				pod("third", "300Mi", 0, 100*mi), pod("hog", "", 0, 400*mi), pod("second", "", 0, 100*mi)}}
			m, clk := newTestManager(t, Config{Hard: DefaultHard}, n)
			if tt.noCleanedUp {
				m.cfg.PodCleanedUp = nil
			}
			h := startRun(t, m, clk)
			if r := n.record(); !reflect.DeepEqual(r.evicted, []string{"uid-hog"}) {
				t.Fatalf("first step evicted %v", r.evicted)
			}
			for at := s; at <= 40*s; at += s {
				for uid, cleanAt := range tt.cleanAt {
					if cleanAt == at {
						n.clean(uid)
					}
				}
				if tt.recoverAt == at {
					n.set(800 * mi)
				}
				clk.Step(s)
				h.idle()
			}
			r := n.record()
			if !reflect.DeepEqual(r.evicted, tt.wantEvicted) || !reflect.DeepEqual(offsets(h.start, r.evictedAt), tt.wantAt) {
				t.Errorf("evicted %v at %v, want %v at %v", r.evicted, offsets(h.start, r.evictedAt), tt.wantEvicted, tt.wantAt)
			}
			got := offsets(h.start, r.observedAt)
			if len(got) > len(tt.wantObserved) {
				got = got[:len(tt.wantObserved)]
			}
			if !reflect.DeepEqual(got, tt.wantObserved) {
				t.Errorf("first observations at %v, want %v", got, tt.wantObserved)
			}
			if tt.noCleanedUp && r.polls != 0 {
				t.Errorf("%d polls without PodCleanedUp", r.polls)
			}
		})
	}
}

func TestWaitPollsEverySecond(t *testing.T) {
	n := &fakeNode{available: 50 * mi, pods: []PodStats{pod("hog", "", 0, 400*mi)}}
	m, clk := newTestManager(t, Config{Hard: DefaultHard}, n)
	h := startRun(t, m, clk)
	clk.Step(999 * time.Millisecond)
	h.idle()
	if r := n.record(); r.polls != 0 {
		t.Fatalf("polled %d times before a second passed", r.polls)
	}
	clk.Step(time.Millisecond)
	h.idle()
	clk.Step(time.Second)
	h.idle()
	if r := n.record(); r.polls != 2 {
		t.Fatalf("%d polls in 2s, want 2", r.polls)
	}
}

// The pressure transition period is shorter than the wait here: without an
// observation the threshold looks long gone, but the reclaim it asked for
// is not done, so MemoryPressure (condition and admission) stays true until
// the next observation after the clean-up.
func TestMemoryPressureDuringCleanupWait(t *testing.T) {
	n := &fakeNode{available: 50 * mi, pods: []PodStats{pod("hog", "", 0, 400*mi), pod("second", "", 0, 100*mi)}}
	m, clk := newTestManager(t, Config{Hard: DefaultHard}, n)
	m.cfg.PressureTransitionPeriod = 2 * time.Second
	h := startRun(t, m, clk)
	first := m.Condition(nil)
	if first.Status != v1.ConditionTrue {
		t.Fatalf("condition after the eviction = %s", first.Status)
	}
	for i := 1; i <= 9; i++ {
		clk.Step(time.Second)
		h.idle()
		if !m.MemoryPressure() {
			t.Fatalf("MemoryPressure false %ds into the wait", i)
		}
		c := m.Condition(&first)
		if c.Status != v1.ConditionTrue || !c.LastTransitionTime.Equal(&first.LastTransitionTime) {
			t.Fatalf("condition %ds into the wait = %s since %v", i, c.Status, c.LastTransitionTime)
		}
	}
	// Cleaned up, memory back: the observation at 10s meets no threshold and
	// the last one that did (0s) is older than the transition period.
	n.clean("uid-hog")
	n.set(800 * mi)
	clk.Step(time.Second)
	h.idle()
	if m.MemoryPressure() {
		t.Error("MemoryPressure still true after the clean-up and recovery")
	}
	if c := m.Condition(&first); c.Status != v1.ConditionFalse {
		t.Errorf("condition after recovery = %s", c.Status)
	}
	if r := n.record(); len(r.evicted) != 1 {
		t.Errorf("evicted %v", r.evicted)
	}
}

func TestCancelDuringCleanupWait(t *testing.T) {
	n := &fakeNode{available: 50 * mi, pods: []PodStats{pod("hog", "", 0, 400*mi), pod("second", "", 0, 100*mi)}}
	m, clk := newTestManager(t, Config{Hard: DefaultHard}, n)
	m.cfg.PressureTransitionPeriod = 2 * time.Second
	h := startRun(t, m, clk)
	clk.Step(5 * time.Second)
	h.idle()
	if !m.MemoryPressure() {
		t.Fatal("no MemoryPressure during the wait")
	}
	if err := h.stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if clk.HasWaiters() {
		t.Error("the poll timer is left on the clock")
	}
	// Nobody waits any more: back to the plain rule (last met 5s ago).
	if m.MemoryPressure() {
		t.Error("MemoryPressure still held by a cancelled wait")
	}
	if r := n.record(); len(r.evicted) != 1 || len(r.observedAt) != 1 {
		t.Errorf("evicted %v, observed %d times", r.evicted, len(r.observedAt))
	}
}
