package eviction

import (
	"testing"
)

func TestEvictedIsToldTheSignalOfAcceptedEvictions(t *testing.T) {
	n := &fakeNode{available: 50 * mi, refuse: map[string]bool{"uid-hog": true},
		pods: []PodStats{pod("hog", "", 0, 400*mi), pod("small", "", 0, 10*mi)}}
	m, _ := newTestManager(t, Config{Hard: DefaultHard}, n)
	var told []Signal
	m.cfg.Evicted = func(s Signal) { told = append(told, s) }
	// The hog refuses; the next pod in rank is evicted and told once.
	if uid := step(t, m); uid != "uid-small" {
		t.Fatalf("evicted %q, want uid-small", uid)
	}
	if len(told) != 1 || told[0] != SignalMemoryAvailable {
		t.Fatalf("told %v, want [%s]", told, SignalMemoryAvailable)
	}
}
