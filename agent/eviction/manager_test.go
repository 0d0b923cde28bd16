package eviction

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeNode is a scripted node: its available memory, its pods and which
// evicted pods are cleaned up change as the test says; observations,
// evictions and clean-up polls are recorded with the fake clock's time.
type fakeNode struct {
	mu         sync.Mutex
	clk        *clocktesting.FakeClock
	available  int64
	pods       []PodStats
	refuse     map[string]bool
	cleaned    map[string]bool
	evicted    []string
	evictedAt  []time.Time
	messages   []string
	observedAt []time.Time
	polls      int
	observeErr error
}

func (n *fakeNode) observe() (Observation, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.observedAt = append(n.observedAt, n.clk.Now())
	if n.observeErr != nil {
		return Observation{}, n.observeErr
	}
	return Observation{Signals: map[Signal]SignalObservation{SignalMemoryAvailable: {Capacity: 1000 * mi, Available: n.available}}}, nil
}

func (n *fakeNode) list() []PodStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]PodStats(nil), n.pods...)
}

func (n *fakeNode) evict(uid, msg string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.refuse[uid] {
		return false
	}
	n.evicted = append(n.evicted, uid)
	n.evictedAt = append(n.evictedAt, n.clk.Now())
	n.messages = append(n.messages, msg)
	var keep []PodStats
	for _, p := range n.pods {
		if string(p.Pod.UID) != uid {
			keep = append(keep, p)
		}
	}
	n.pods = keep
	return true
}

func (n *fakeNode) cleanedUp(uid string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.polls++
	return n.cleaned[uid]
}

func (n *fakeNode) set(avail int64) {
	n.mu.Lock()
	n.available = avail
	n.mu.Unlock()
}

func (n *fakeNode) clean(uid string) {
	n.mu.Lock()
	if n.cleaned == nil {
		n.cleaned = map[string]bool{}
	}
	n.cleaned[uid] = true
	n.mu.Unlock()
}

func newTestManager(t *testing.T, cfg Config, n *fakeNode) (*Manager, *clocktesting.FakeClock) {
	t.Helper()
	th, err := ParseThresholds(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	n.clk = clk
	m := NewManager(ManagerConfig{Thresholds: th, Clock: clk, Observe: n.observe, ListPods: n.list, Evict: n.evict,
		PodCleanedUp: n.cleanedUp, MonitoringPeriod: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return m, clk
}

func step(t *testing.T, m *Manager) string {
	t.Helper()
	uid, err := m.Synchronize()
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

func TestHardEvictionOnePodPerStep(t *testing.T) {
	n := &fakeNode{available: 500 * mi, pods: []PodStats{
		pod("guarded", "300Mi", 0, 100*mi), pod("hog", "", 0, 400*mi), pod("small", "", 0, 10*mi)}}
	m, clk := newTestManager(t, Config{Hard: DefaultHard}, n)
	if uid := step(t, m); uid != "" || m.MemoryPressure() {
		t.Fatalf("evicted %q / pressure %v with plenty of memory", uid, m.MemoryPressure())
	}
	n.set(50 * mi)
	if uid := step(t, m); uid != "uid-hog" {
		t.Fatalf("first eviction = %q, want uid-hog", uid)
	}
	want := "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container c was using 400Mi, request is 0, has larger consumption of memory. "
	if n.messages[0] != want {
		t.Errorf("message = %q", n.messages[0])
	}
	if !m.MemoryPressure() {
		t.Error("no MemoryPressure while the threshold is met")
	}
	clk.Step(time.Second)
	if uid := step(t, m); uid != "uid-small" {
		t.Fatalf("second eviction = %q, want uid-small", uid)
	}
	// Memory recovers: no more evictions; pressure lasts the transition period.
	n.set(800 * mi)
	clk.Step(time.Second)
	if uid := step(t, m); uid != "" {
		t.Fatalf("evicted %q after recovery", uid)
	}
	cond := m.Condition(nil)
	if cond.Status != v1.ConditionTrue || cond.Reason != ReasonInsufficientMemory {
		t.Errorf("condition right after recovery = %s %s", cond.Status, cond.Reason)
	}
	clk.Step(DefaultPressureTransitionPeriod - 2*time.Second)
	if !m.MemoryPressure() {
		t.Error("pressure dropped before the transition period")
	}
	clk.Step(2 * time.Second)
	next := m.Condition(&cond)
	if m.MemoryPressure() || next.Status != v1.ConditionFalse || next.Reason != ReasonSufficientMemory || next.Message != "kubelet has sufficient memory available" {
		t.Errorf("after the transition period: pressure %v, condition %+v", m.MemoryPressure(), next)
	}
	if !next.LastTransitionTime.After(cond.LastTransitionTime.Time) {
		t.Error("LastTransitionTime not moved on the change")
	}
	again := m.Condition(&next)
	if !again.LastTransitionTime.Equal(&next.LastTransitionTime) {
		t.Error("LastTransitionTime moved without a change")
	}
}

func TestSoftGracePeriod(t *testing.T) {
	n := &fakeNode{available: 200 * mi, pods: []PodStats{pod("hog", "", 0, 400*mi)}}
	m, clk := newTestManager(t, Config{Soft: "memory.available<300Mi", SoftGracePeriod: "memory.available=30s"}, n)
	if uid := step(t, m); uid != "" {
		t.Fatal("soft threshold acted before its grace period")
	}
	if !m.MemoryPressure() {
		t.Error("MemoryPressure must be True as soon as a soft threshold is met")
	}
	clk.Step(29 * time.Second)
	if uid := step(t, m); uid != "" {
		t.Fatal("acted at 29s")
	}
	// The signal recovers briefly: the grace period starts over.
	n.set(400 * mi)
	clk.Step(time.Second)
	step(t, m)
	n.set(200 * mi)
	clk.Step(time.Second)
	step(t, m)
	clk.Step(29 * time.Second)
	if uid := step(t, m); uid != "" {
		t.Fatal("grace period did not restart after recovery")
	}
	clk.Step(time.Second)
	if uid := step(t, m); uid != "uid-hog" {
		t.Fatalf("after 30s evicted %q", uid)
	}
}

func TestMinimumReclaim(t *testing.T) {
	n := &fakeNode{available: 90 * mi, pods: []PodStats{pod("a", "", 0, 50*mi), pod("b", "", 0, 40*mi)}}
	m, _ := newTestManager(t, Config{Hard: DefaultHard, MinimumReclaim: "memory.available=100Mi"}, n)
	if uid := step(t, m); uid != "uid-a" {
		t.Fatalf("first = %q", uid)
	}
	// Above the threshold but within minimum reclaim: still acting.
	n.set(150 * mi)
	if uid := step(t, m); uid != "uid-b" {
		t.Fatalf("within minimum reclaim evicted %q, want uid-b", uid)
	}
	n.set(201 * mi)
	n.pods = []PodStats{pod("c", "", 0, mi)}
	if uid := step(t, m); uid != "" {
		t.Fatalf("past minimum reclaim evicted %q", uid)
	}
	// Once released, the plain threshold applies again.
	n.set(150 * mi)
	if uid := step(t, m); uid != "" {
		t.Fatalf("re-entered minimum reclaim without meeting the threshold: %q", uid)
	}
}

func TestSkipsCriticalAndRefusedPods(t *testing.T) {
	crit := pod("critical", "", 2000001000, 900*mi)
	n := &fakeNode{available: 10 * mi, pods: []PodStats{crit, pod("refuses", "", 0, 500*mi), pod("next", "", 0, 100*mi)},
		refuse: map[string]bool{"uid-refuses": true}}
	m, _ := newTestManager(t, Config{Hard: DefaultHard}, n)
	if uid := step(t, m); uid != "uid-next" {
		t.Fatalf("evicted %q, want uid-next", uid)
	}
	n.pods = []PodStats{crit}
	if uid := step(t, m); uid != "" {
		t.Fatalf("evicted a critical pod: %q", uid)
	}
}

func TestObserveError(t *testing.T) {
	n := &fakeNode{observeErr: errors.New("no meminfo")}
	m, _ := newTestManager(t, Config{Hard: DefaultHard}, n)
	if _, err := m.Synchronize(); err == nil || !strings.Contains(err.Error(), "no meminfo") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunStepsEveryMonitoringPeriod(t *testing.T) {
	n := &fakeNode{available: 800 * mi, pods: []PodStats{pod("a", "", 0, mi)}}
	m, clk := newTestManager(t, Config{Hard: DefaultHard}, n)
	h := startRun(t, m, clk)
	for i := 0; i < 3; i++ {
		clk.Step(time.Second)
		h.idle()
	}
	if got := offsets(h.start, n.observedAt); !reflect.DeepEqual(got, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}) {
		t.Errorf("observed at %v", got)
	}
	if err := h.stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if len(n.evicted) != 0 {
		t.Errorf("evicted %v with plenty of memory", n.evicted)
	}
}
