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
	// PodCleanedUp reports whether an evicted pod has given its resources
	// back: all its containers stopped and removed, its volumes (memory-
	// backed emptyDirs included) unmounted and its pod cgroup removed. It
	// should also be true for a pod the agent no longer knows. After an
	// eviction Run polls it every second for up to 30 s (kubelet's
	// podCleanupPollFreq and podCleanupTimeout) before it observes again;
	// nil means the agent cannot tell, and Run waits the full 30 s.
	PodCleanedUp func(podUID string) bool
	Log          *slog.Logger
	// Evicted, if set, is told the signal of each eviction Evict accepted
	// (kubelet_evictions).
	Evicted func(signal Signal)
}

// Manager is the memory eviction manager.
type Manager struct {
	cfg ManagerConfig

	mu              sync.Mutex
	firstObservedAt map[Signal]map[bool]time.Time // signal -> hard? -> first time met
	met             []Threshold                   // met in the last step (for minimum reclaim)
	lastPressureAt  time.Time
	lastObs         Observation
	reclaiming      string // UID of the evicted pod Run waits for, "" when none
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

// Run calls Synchronize every monitoring period until ctx ends. After a
// step that evicted a pod it waits for that pod's clean-up (see
// ManagerConfig.PodCleanedUp) and then steps again at once, as kubelet's
// eviction manager does, so the next pod is evicted only if the signal,
// observed after the first pod's memory came back, still meets a
// threshold.
func (m *Manager) Run(ctx context.Context) error {
	for {
		evicted, err := m.synchronize()
		if err != nil {
			m.cfg.Log.Warn("eviction manager: observe", "err", err)
		}
		if evicted != nil {
			err = m.waitForCleanup(ctx, evicted)
		} else {
			err = m.sleep(ctx, m.cfg.MonitoringPeriod)
		}
		if err != nil {
			return err
		}
	}
}

// Synchronize is one observe-decide-act step: it observes the signals,
// updates the pressure state and, when a threshold has been met for its
// grace period, evicts the first evictable pod in rank. It returns the UID
// of the evicted pod ("" when none). It does not wait for the pod's
// clean-up; Run does.
func (m *Manager) Synchronize() (string, error) {
	p, err := m.synchronize()
	if p == nil {
		return "", err
	}
	return string(p.UID), err
}

// synchronize is Synchronize returning the evicted pod (nil when none).
func (m *Manager) synchronize() (*v1.Pod, error) {
	if m.cfg.Observe == nil {
		return nil, errors.New("eviction manager without an observer")
	}
	obs, err := m.cfg.Observe()
	if err != nil {
		m.mu.Lock()
		m.reclaiming = ""
		m.mu.Unlock()
		return nil, err
	}
	now := m.cfg.Clock.Now()

	m.mu.Lock()
	m.reclaiming = "" // this observation replaces the wait in MemoryPressure
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
		return nil, nil
	}
	t := due[0]
	o := obs.Signals[t.Signal]
	for _, p := range Rank(m.cfg.ListPods()) {
		if IsCritical(p.Pod) {
			continue
		}
		msg := Message(&t, &o, p)
		if m.cfg.Evict(string(p.Pod.UID), msg) {
			if m.cfg.Evicted != nil {
				m.cfg.Evicted(t.Signal)
			}
			m.cfg.Log.Info("evicted pod", "pod", p.Pod.Namespace+"/"+p.Pod.Name, "signal", t.Signal, "message", msg)
			return p.Pod, nil
		}
	}
	return nil, nil
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
// transition period, or Run is waiting for an evicted pod's clean-up (the
// reclaim the threshold asked for is not done yet, whatever the length of
// the transition period). After the wait the next observation decides
// again, the transition period still counting from the last observation
// that met a threshold, as kubelet's.
func (m *Manager) MemoryPressure() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reclaiming != "" {
		return true
	}
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
