package eviction

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
)

// Kubelet's defaults.
const (
	DefaultMonitoringPeriod         = 10 * time.Second
	DefaultPressureTransitionPeriod = 5 * time.Minute
)

// MemoryPressure condition reasons and messages, as kubelet writes them.
const (
	ReasonInsufficientMemory  = "KubeletHasInsufficientMemory"
	ReasonSufficientMemory    = "KubeletHasSufficientMemory"
	messageInsufficientMemory = "kubelet has insufficient memory available"
	messageSufficientMemory   = "kubelet has sufficient memory available"
)

// ManagerConfig wires a Manager.
type ManagerConfig struct {
	Thresholds []Threshold
	// MonitoringPeriod is --eviction-monitoring-period (default 10s).
	MonitoringPeriod time.Duration
	// PressureTransitionPeriod is --eviction-pressure-transition-period
	// (default 5m): MemoryPressure stays True this long after a threshold
	// was last met.
	PressureTransitionPeriod time.Duration
	Clock                    clock.WithTicker
	// Observe measures the signals (NewHostObserver on a real node).
	Observe func() (Observation, error)
	// ListPods returns the active pods with their memory use.
	ListPods func() []PodStats
	// Evict kills the pod at once (grace 0, as kubelet's default hard and
	// soft eviction) and marks it Failed with reason Evicted and message;
	// it returns false when the pod could not be evicted, and the next pod
	// in rank is tried.
	Evict func(podUID, message string) bool
	Log   *slog.Logger
}

// Manager is the memory eviction manager.
type Manager struct {
	cfg ManagerConfig

	mu              sync.Mutex
	firstObservedAt map[Signal]map[bool]time.Time // signal -> hard? -> first time met
	met             []Threshold                   // met in the last step (for minimum reclaim)
	lastPressureAt  time.Time
	lastObs         Observation
}

// NewManager returns a manager; zero periods take kubelet's defaults and a
// nil clock the real one.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.MonitoringPeriod <= 0 {
		cfg.MonitoringPeriod = DefaultMonitoringPeriod
	}
	if cfg.PressureTransitionPeriod <= 0 {
		cfg.PressureTransitionPeriod = DefaultPressureTransitionPeriod
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return &Manager{cfg: cfg, firstObservedAt: map[Signal]map[bool]time.Time{}}
}

// Run calls Synchronize every monitoring period until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	t := m.cfg.Clock.NewTicker(m.cfg.MonitoringPeriod)
	defer t.Stop()
	for {
		if _, err := m.Synchronize(); err != nil {
			m.cfg.Log.Warn("eviction manager: observe", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
	}
}

// Synchronize is one observe-decide-act step: it observes the signals,
// updates the pressure state and, when a threshold has been met for its
// grace period, evicts the first evictable pod in rank. It returns the UID
// of the evicted pod ("" when none).
func (m *Manager) Synchronize() (string, error) {
	if m.cfg.Observe == nil {
		return "", errors.New("eviction manager without an observer")
	}
	obs, err := m.cfg.Observe()
	if err != nil {
		return "", err
	}
	now := m.cfg.Clock.Now()

	m.mu.Lock()
	met := ThresholdsMet(m.cfg.Thresholds, obs, false)
	met = merge(met, ThresholdsMet(m.met, obs, true))
	m.met = met
	m.lastObs = obs
	first := map[Signal]map[bool]time.Time{}
	for _, t := range met {
		at, ok := m.firstObservedAt[t.Signal][t.Hard]
		if !ok {
			at = now
		}
		if first[t.Signal] == nil {
			first[t.Signal] = map[bool]time.Time{}
		}
		first[t.Signal][t.Hard] = at
	}
	m.firstObservedAt = first
	if len(met) > 0 {
		m.lastPressureAt = now
	}
	var due []Threshold
	for _, t := range met {
		if now.Sub(first[t.Signal][t.Hard]) >= t.GracePeriod {
			due = append(due, t)
		}
	}
	m.mu.Unlock()

	if len(due) == 0 || m.cfg.ListPods == nil || m.cfg.Evict == nil {
		return "", nil
	}
	t := due[0]
	o := obs.Signals[t.Signal]
	for _, p := range Rank(m.cfg.ListPods()) {
		if IsCritical(p.Pod) {
			continue
		}
		msg := Message(&t, &o, p)
		if m.cfg.Evict(string(p.Pod.UID), msg) {
			m.cfg.Log.Info("evicted pod", "pod", p.Pod.Namespace+"/"+p.Pod.Name, "signal", t.Signal, "message", msg)
			return string(p.Pod.UID), nil
		}
	}
	return "", nil
}

// merge adds the thresholds of extra not already in base.
func merge(base, extra []Threshold) []Threshold {
	for _, e := range extra {
		dup := false
		for _, b := range base {
			if b.Signal == e.Signal && b.Hard == e.Hard {
				dup = true
				break
			}
		}
		if !dup {
			base = append(base, e)
		}
	}
	return base
}

// MemoryPressure reports whether a threshold was met within the pressure
// transition period.
func (m *Manager) MemoryPressure() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.lastPressureAt.IsZero() && m.cfg.Clock.Since(m.lastPressureAt) < m.cfg.PressureTransitionPeriod
}

// LastObservation returns what the last step observed (PSI included).
func (m *Manager) LastObservation() Observation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastObs
}

// Condition returns the node's MemoryPressure condition, keeping prev's
// transition time when the status did not change.
func (m *Manager) Condition(prev *v1.NodeCondition) v1.NodeCondition {
	now := metav1.NewTime(m.cfg.Clock.Now())
	c := v1.NodeCondition{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse,
		Reason: ReasonSufficientMemory, Message: messageSufficientMemory,
		LastHeartbeatTime: now, LastTransitionTime: now}
	if m.MemoryPressure() {
		c.Status, c.Reason, c.Message = v1.ConditionTrue, ReasonInsufficientMemory, messageInsufficientMemory
	}
	if prev != nil && prev.Status == c.Status {
		c.LastTransitionTime = prev.LastTransitionTime
	}
	return c
}
