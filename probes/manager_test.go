package probes

import (
	"context"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/runtime"
)

func runningManager(t *testing.T) (*Manager, *scriptProber, *recorder, *clocktesting.FakeClock) {
	t.Helper()
	p, rec, clk := newScriptProber(), &recorder{}, clocktesting.NewFakeClock(t0)
	m := newManager(p, clk, rec, rec, rec.onChange, nil)
	m.start = t0.Add(-time.Hour) // up for an hour: no start jitter (see firstDue)
	t.Cleanup(m.Stop)
	return m, p, rec, clk
}

func target(id, podUID string, c *v1.Container) Target {
	return Target{PodUID: podUID, Namespace: "ns", PodName: "pod-" + podUID, ContainerName: c.Name,
		ContainerID: id, Container: c, StartedAt: t0, PodGracePeriod: 30}
}

func TestManagerWithoutProbes(t *testing.T) {
	m, _, _, _ := runningManager(t)
	if m.Started("x") || m.Ready("x") {
		t.Fatal("unknown container reported started/ready")
	}
	m.AddContainer(target("c1", "p1", &v1.Container{Name: "web"}))
	if !m.Started("c1") || !m.Ready("c1") {
		t.Fatal("container without probes should be started and ready")
	}
	m.RemoveContainer("c1")
	if m.Started("c1") || m.Ready("c1") {
		t.Fatal("removed container still reported")
	}
}

func TestReadinessRunsRightAfterStartup(t *testing.T) {
	m, p, rec, _ := runningManager(t)
	c := &v1.Container{Name: "web",
		StartupProbe:   execProbe(v1.Probe{PeriodSeconds: 10}),
		ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 10}),
	}
	m.AddContainer(target("c1", "p1", c))
	// The fake clock never moves: readiness must not wait for its next tick.
	waitFor(t, 2*time.Second, "ready without a clock tick", func() bool { return m.Ready("c1") })
	if !m.Started("c1") || p.count(Startup) != 1 || p.count(Readiness) != 1 {
		t.Fatalf("started=%v startup probes=%d readiness probes=%d", m.Started("c1"), p.count(Startup), p.count(Readiness))
	}
	waitFor(t, time.Second, "two onChange calls", func() bool { _, _, ch := rec.snapshot(); return len(ch) == 2 })
}

// Within a period of the Manager's start the readiness worker waits out
// its start jitter; the startup probe's success ends that wait.
func TestReadinessAfterStartupDuringStartJitter(t *testing.T) {
	m, p, _, _ := runningManager(t)
	m.start = t0                           // just started: the start jitter applies
	m.rand = func() float64 { return 0.9 } // 9 s of a 10 s period
	c := &v1.Container{Name: "web",
		StartupProbe:   execProbe(v1.Probe{PeriodSeconds: 1}),
		ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 10}),
	}
	m.AddContainer(target("c1", "p1", c))
	// The startup worker's own jitter is 0.9 s: step past it only.
	fc := m.clock.(*clocktesting.FakeClock)
	waitFor(t, 2*time.Second, "timers armed", func() bool { return fc.HasWaiters() })
	fc.Step(950 * time.Millisecond)
	waitFor(t, 2*time.Second, "ready before the readiness jitter ends", func() bool { return m.Ready("c1") })
	if p.count(Readiness) != 1 {
		t.Errorf("readiness probes = %d, want 1", p.count(Readiness))
	}
}

func TestWorkerTicksAndHolds(t *testing.T) {
	m, p, rec, clk := runningManager(t)
	p.set(Liveness, fail)
	c := &v1.Container{Name: "web", LivenessProbe: execProbe(v1.Probe{PeriodSeconds: 10, InitialDelaySeconds: 5, FailureThreshold: 3})}
	m.AddContainer(target("c1", "p1", c))

	waitFor(t, time.Second, "initial-delay timer", clk.HasWaiters)
	if p.count(Liveness) != 0 {
		t.Fatal("probed before initialDelaySeconds")
	}
	clk.Step(5 * time.Second)
	waitFor(t, time.Second, "first probe", func() bool { return p.count(Liveness) == 1 })
	for want := 2; want <= 3; want++ {
		waitFor(t, time.Second, "ticker", clk.HasWaiters)
		clk.Step(10 * time.Second)
		waitFor(t, time.Second, "next probe", func() bool { return p.count(Liveness) == want })
	}
	waitFor(t, time.Second, "kill", func() bool { _, k, _ := rec.snapshot(); return len(k) == 1 })
	for range 3 {
		clk.Step(10 * time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.count(Liveness); n != 3 {
		t.Fatalf("probed %d times, want 3: worker must hold after the kill", n)
	}
	if _, k, _ := rec.snapshot(); len(k) != 1 {
		t.Fatalf("killed %d times", len(k))
	}
}

func TestHungProbeIsIndependentAndCancelled(t *testing.T) {
	base := goruntime.NumGoroutine()
	m, p, _, clk := runningManager(t)
	p.setBlock(Liveness) // every liveness probe hangs until cancelled
	hung := &v1.Container{Name: "hung", LivenessProbe: execProbe(v1.Probe{}), ReadinessProbe: execProbe(v1.Probe{})}
	m.AddContainer(target("c-hung", "p1", hung))
	for _, id := range []string{"a", "b", "c"} {
		m.AddContainer(target(id, "p2", &v1.Container{Name: id, ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 1})}))
	}
	waitFor(t, time.Second, "others ready despite the hung probe", func() bool {
		return m.Ready("a") && m.Ready("b") && m.Ready("c") && m.Ready("c-hung")
	})
	if p.count(Liveness) != 1 {
		t.Fatalf("liveness calls = %d", p.count(Liveness))
	}
	before := p.count(Readiness)
	clk.Step(time.Second) // the p2 workers tick at 1 s
	waitFor(t, time.Second, "ticks while liveness hangs", func() bool { return p.count(Readiness) >= before+3 })

	m.mu.Lock()
	live := m.containers["c-hung"].workers[Liveness]
	m.mu.Unlock()
	m.RemoveContainer("c-hung")
	select {
	case <-live.done:
	case <-time.After(time.Second):
		t.Fatal("RemoveContainer did not stop the hung worker")
	}
	m.RemovePod("p2")
	for _, id := range []string{"a", "b", "c"} {
		if m.Ready(id) {
			t.Fatalf("%s still known after RemovePod", id)
		}
	}
	m.Stop()
	waitFor(t, 2*time.Second, "goroutines back to baseline", func() bool { return goruntime.NumGoroutine() <= base })
}

type countingExecer struct{ calls atomic.Int32 }

func (e *countingExecer) Exec(_ context.Context, id string, cmd []string, timeout time.Duration, maxOut int) (runtime.ExecResult, error) {
	e.calls.Add(1)
	if cmd[0] == "false" {
		return runtime.ExecResult{ExitCode: 1, Output: []byte("nope")}, nil
	}
	return runtime.ExecResult{}, nil
}

func TestNewManagerEndToEnd(t *testing.T) {
	e := &countingExecer{}
	rec := &recorder{}
	m := NewManager(e, clocktesting.NewFakeClock(t0), rec, rec, rec.onChange, nil)
	m.start = t0.Add(-time.Hour) // up for an hour: no start jitter (see firstDue)
	defer m.Stop()
	c := &v1.Container{Name: "web",
		ReadinessProbe: &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}},
		LivenessProbe:  &v1.Probe{FailureThreshold: 1, ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"false"}}}},
	}
	m.AddContainer(target("c1", "p1", c))
	waitFor(t, 2*time.Second, "ready and killed", func() bool {
		_, k, _ := rec.snapshot()
		return m.Ready("c1") && len(k) == 1
	})
	events, kills, changes := rec.snapshot()
	if kills[0].message != "Container web failed liveness probe, will be restarted" || kills[0].probeType != "Liveness" {
		t.Fatalf("kill = %+v", kills[0])
	}
	if len(events) != 1 || events[0] != (recorded{"p1", "Warning", "Unhealthy", "Liveness probe failed: nope"}) {
		t.Fatalf("events = %+v", events)
	}
	if len(changes) != 1 || changes[0] != "p1" {
		t.Fatalf("changes = %v", changes)
	}
}
