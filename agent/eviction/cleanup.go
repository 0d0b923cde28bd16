package eviction

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
)

// Kubelet's podCleanupTimeout and podCleanupPollFreq: how long Run waits at
// most for an evicted pod's clean-up, and how often it asks.
const (
	PodCleanupTimeout    = 30 * time.Second
	PodCleanupPollPeriod = time.Second
)

// waitForCleanup blocks until cfg.PodCleanedUp reports pod cleaned up,
// asking every PodCleanupPollPeriod (first one period after the eviction,
// as kubelet's ticker) and giving up after PodCleanupTimeout; a timeout is
// logged, not an error, and the caller goes on to observe again. Meanwhile
// MemoryPressure reports true; the next observation clears that. It
// returns ctx.Err() when ctx ends first.
func (m *Manager) waitForCleanup(ctx context.Context, pod *v1.Pod) error {
	uid := string(pod.UID)
	name := pod.Namespace + "/" + pod.Name
	m.mu.Lock()
	m.reclaiming = uid
	m.mu.Unlock()
	start := m.cfg.Clock.Now()
	deadline := start.Add(PodCleanupTimeout)
	for {
		if err := m.sleep(ctx, PodCleanupPollPeriod); err != nil {
			m.mu.Lock()
			m.reclaiming = ""
			m.mu.Unlock()
			return err
		}
		if m.cfg.PodCleanedUp != nil && m.cfg.PodCleanedUp(uid) {
			m.cfg.Log.Info("evicted pod cleaned up", "pod", name, "after", m.cfg.Clock.Since(start))
			return nil
		}
		if !m.cfg.Clock.Now().Before(deadline) {
			m.cfg.Log.Warn("timed out waiting for evicted pod to be cleaned up", "pod", name, "timeout", PodCleanupTimeout)
			return nil
		}
	}
}

// sleep waits d on the manager's clock, or until ctx ends.
func (m *Manager) sleep(ctx context.Context, d time.Duration) error {
	t := m.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}
