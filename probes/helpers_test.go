package probes

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// scriptProber answers probes from a per-type script of outcomes; when the
// script is empty it repeats the last entry. A step with err set errors.
type scriptProber struct {
	mu      sync.Mutex
	scripts map[ProbeType][]step
	calls   map[ProbeType]int
	block   map[ProbeType]bool // block until ctx ends
}

type step struct {
	out outcome
	msg string
	err error
}

func newScriptProber() *scriptProber {
	return &scriptProber{scripts: map[ProbeType][]step{}, calls: map[ProbeType]int{}, block: map[ProbeType]bool{}}
}

func (p *scriptProber) set(kind ProbeType, steps ...step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scripts[kind] = steps
}

func (p *scriptProber) setBlock(kind ProbeType) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.block[kind] = true
}

func (p *scriptProber) count(kind ProbeType) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[kind]
}

func (p *scriptProber) probe(ctx context.Context, kind ProbeType, _ *Target, _ *v1.Probe) (outcome, string, error) {
	p.mu.Lock()
	p.calls[kind]++
	block := p.block[kind]
	s := p.scripts[kind]
	var st step
	switch {
	case len(s) == 0:
		st = step{out: outcomeSuccess}
	case len(s) == 1:
		st = s[0]
	default:
		st = s[0]
		p.scripts[kind] = s[1:]
	}
	p.mu.Unlock()
	if block {
		<-ctx.Done()
		return outcomeFailure, "cancelled", nil
	}
	return st.out, st.msg, st.err
}

var (
	ok   = step{out: outcomeSuccess}
	fail = step{out: outcomeFailure, msg: "boom"}
)

type recorded struct{ podUID, eventType, reason, message string }

type kill struct {
	podUID, id, name, probeType string
	grace                       time.Duration
	message                     string
}

// recorder collects events, kills and onChange calls.
type recorder struct {
	mu      sync.Mutex
	events  []recorded
	kills   []kill
	changes []string
}

func (r *recorder) Event(podUID, container, eventType, reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, recorded{podUID, eventType, reason, message})
}

func (r *recorder) KillForProbe(podUID, containerID, containerName, probeType string, grace time.Duration, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kills = append(r.kills, kill{podUID, containerID, containerName, probeType, grace, message})
}

func (r *recorder) onChange(podUID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, podUID)
}

func (r *recorder) snapshot() ([]recorded, []kill, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.events...), append([]kill(nil), r.kills...), append([]string(nil), r.changes...)
}

// fixture is a manager with a scripted prober and a fake clock whose workers
// are created but not run: tests drive doProbe by hand.
type fixture struct {
	m     *Manager
	p     *scriptProber
	rec   *recorder
	clk   *clocktesting.FakeClock
	inst  *instance
	probe func(ProbeType) bool
}

func newFixture(t *testing.T, c *v1.Container) *fixture {
	t.Helper()
	f := &fixture{p: newScriptProber(), rec: &recorder{}, clk: clocktesting.NewFakeClock(t0)}
	f.m = newManager(f.p, f.clk, f.rec, f.rec, f.rec.onChange, nil)
	target := Target{PodUID: "uid1", Namespace: "ns", PodName: "pod", ContainerName: c.Name,
		ContainerID: "cid1", Container: c, StartedAt: t0, PodGracePeriod: 30}
	inst := &instance{target: target, workers: map[ProbeType]*worker{},
		started: c.StartupProbe == nil, ready: c.ReadinessProbe == nil}
	for kind, p := range map[ProbeType]*v1.Probe{Startup: c.StartupProbe, Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe} {
		if p != nil {
			inst.workers[kind] = newWorker(f.m, inst, kind, p)
		}
	}
	f.m.containers[target.ContainerID] = inst // registered, no goroutines
	f.inst = inst
	f.probe = func(kind ProbeType) bool { return inst.workers[kind].doProbe(inst.workers[kind].ctx) }
	return f
}

func (f *fixture) String() string {
	return fmt.Sprintf("started=%v ready=%v", f.m.Started("cid1"), f.m.Ready("cid1"))
}

func execProbe(p v1.Probe) *v1.Probe {
	p.Exec = &v1.ExecAction{Command: []string{"true"}}
	return &p
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
