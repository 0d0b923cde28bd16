package probes

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/runtime"
)

// preparingExecer's PrepareExec blocks for the IDs in block until released
// (or its context ends); it records the Exec and PrepareExec calls.
type preparingExecer struct {
	block map[string]chan struct{}

	mu       sync.Mutex
	execs    map[string]int
	prepared []string
	canceled []string
}

func (e *preparingExecer) PrepareExec(ctx context.Context, id string) error {
	if ch := e.block[id]; ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			e.mu.Lock()
			e.canceled = append(e.canceled, id)
			e.mu.Unlock()
			return ctx.Err()
		}
	}
	e.mu.Lock()
	e.prepared = append(e.prepared, id)
	e.mu.Unlock()
	return nil
}

func (e *preparingExecer) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration, maxOut int) (runtime.ExecResult, error) {
	e.mu.Lock()
	e.execs[id]++
	e.mu.Unlock()
	return runtime.ExecResult{}, nil
}

func (e *preparingExecer) snapshot() (execs map[string]int, prepared, canceled []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	execs = map[string]int{}
	for k, v := range e.execs {
		execs[k] = v
	}
	return execs, append([]string(nil), e.prepared...), append([]string(nil), e.canceled...)
}

// A container whose exec path is slow to get ready holds no exec slot: with
// one slot, another container's exec probes run meanwhile; its own first
// exec waits until the preparation ended. Removing a container cancels its
// preparation, and containers without exec probes are never prepared.
func TestExecPreparedOutsideSlots(t *testing.T) {
	e := &preparingExecer{execs: map[string]int{},
		block: map[string]chan struct{}{"a": make(chan struct{}), "gone": make(chan struct{})}}
	clk := clocktesting.NewFakeClock(t0)
	// Three preparations at once: a's and gone's block, b's must not
	// wait behind them for this test.
	m := NewManager(e, clk, nil, nil, nil, nil, WithExecConcurrency(1), WithPrepareConcurrency(3))
	m.start = t0.Add(-time.Hour) // no start jitter
	t.Cleanup(m.Stop)
	liveness := func() *v1.Probe {
		return &v1.Probe{PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: 3,
			ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}}
	}
	m.AddContainer(target("a", "p1", &v1.Container{Name: "a", LivenessProbe: liveness()}))
	m.AddContainer(target("b", "p2", &v1.Container{Name: "b", LivenessProbe: liveness()}))
	m.AddContainer(target("gone", "p3", &v1.Container{Name: "gone", LivenessProbe: liveness()}))
	tcp := &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{}}}
	m.AddContainer(target("net", "p4", &v1.Container{Name: "net", ReadinessProbe: tcp}))

	waitFor(t, 2*time.Second, "b probed while a is still being prepared", func() bool {
		execs, _, _ := e.snapshot()
		return execs["b"] >= 1
	})
	for i := 0; i < 3; i++ { // more of b's ticks: the one slot is free for them
		n := func() int { execs, _, _ := e.snapshot(); return execs["b"] }()
		clk.Step(time.Second)
		waitFor(t, 2*time.Second, "b's next probe", func() bool {
			execs, _, _ := e.snapshot()
			return execs["b"] > n
		})
	}
	if execs, _, _ := e.snapshot(); execs["a"] != 0 {
		t.Fatalf("a was exec'd %d times before its preparation ended", execs["a"])
	}
	m.RemoveContainer("gone")
	waitFor(t, 2*time.Second, "the removed container's preparation canceled", func() bool {
		_, _, canceled := e.snapshot()
		return len(canceled) == 1 && canceled[0] == "gone"
	})
	close(e.block["a"])
	waitFor(t, 2*time.Second, "a probed once prepared", func() bool {
		execs, _, _ := e.snapshot()
		return execs["a"] >= 1
	})
	_, prepared, _ := e.snapshot()
	seen := map[string]int{}
	for _, id := range prepared {
		seen[id]++
	}
	if seen["a"] != 1 || seen["b"] != 1 || seen["net"] != 0 || seen["gone"] != 0 {
		t.Fatalf("prepared %v: want a and b once each, never net (no exec probe) nor gone (removed)", prepared)
	}
}

// Preparations are bounded: with one at a time, a second container's waits
// (and so does its first exec) until the first one's ended.
func TestExecPrepareBounded(t *testing.T) {
	e := &preparingExecer{execs: map[string]int{}, block: map[string]chan struct{}{"a": make(chan struct{})}}
	m := NewManager(e, clocktesting.NewFakeClock(t0), nil, nil, nil, nil, WithPrepareConcurrency(1))
	m.start = t0.Add(-time.Hour)
	t.Cleanup(m.Stop)
	liveness := &v1.Probe{PeriodSeconds: 1, ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}}
	m.AddContainer(target("a", "p1", &v1.Container{Name: "a", LivenessProbe: liveness}))
	waitFor(t, 2*time.Second, "a's preparation holding the one slot", func() bool { return len(m.prepSlots) == 1 })
	m.AddContainer(target("b", "p2", &v1.Container{Name: "b", LivenessProbe: liveness}))
	time.Sleep(100 * time.Millisecond)
	if execs, prepared, _ := e.snapshot(); len(prepared) != 0 || execs["b"] != 0 {
		t.Fatalf("b prepared %v / exec'd %d while a's preparation held the only slot", prepared, execs["b"])
	}
	close(e.block["a"])
	waitFor(t, 2*time.Second, "b prepared and probed after a", func() bool {
		execs, prepared, _ := e.snapshot()
		return len(prepared) == 2 && execs["b"] >= 1
	})
}
