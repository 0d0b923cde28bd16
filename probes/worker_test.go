package probes

import (
	"errors"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestReadinessThresholds(t *testing.T) {
	tests := []struct {
		name      string
		success   int32
		failure   int32
		steps     []step
		wantReady []bool // after each step
	}{
		{"initially not ready, one success flips", 1, 3,
			[]step{ok}, []bool{true}},
		{"needs two successes in a row", 2, 3,
			[]step{ok, fail, ok, ok}, []bool{false, false, false, true}},
		{"needs three failures in a row to go unready", 1, 3,
			[]step{ok, fail, fail, ok, fail, fail, fail}, []bool{true, true, true, true, true, true, false}},
		{"failure threshold 1", 1, 1,
			[]step{ok, fail, ok}, []bool{true, false, true}},
		{"warning counts as success", 1, 3,
			[]step{{out: outcomeWarning, msg: "redirect"}}, []bool{true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{SuccessThreshold: tc.success, FailureThreshold: tc.failure})}
			f := newFixture(t, c)
			if f.m.Ready("cid1") {
				t.Fatal("ready before any probe")
			}
			f.p.set(Readiness, tc.steps...)
			for i := range tc.steps {
				if !f.probe(Readiness) {
					t.Fatalf("step %d: readiness worker stopped", i)
				}
				if got := f.m.Ready("cid1"); got != tc.wantReady[i] {
					t.Fatalf("step %d: ready = %v, want %v", i, got, tc.wantReady[i])
				}
			}
			if len(f.rec.kills) != 0 {
				t.Fatalf("readiness failure killed: %v", f.rec.kills)
			}
		})
	}
}

func TestOnChangeOnlyOnChange(t *testing.T) {
	c := &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{FailureThreshold: 1})}
	f := newFixture(t, c)
	f.p.set(Readiness, ok, ok, ok, fail, fail, ok)
	for range 6 {
		f.probe(Readiness)
	}
	_, _, changes := f.rec.snapshot()
	if len(changes) != 3 { // unready→ready, ready→unready, unready→ready
		t.Fatalf("onChange called %d times (%v), want 3", len(changes), changes)
	}
}

func TestLivenessKillsOnceThenHolds(t *testing.T) {
	c := &v1.Container{Name: "web", LivenessProbe: execProbe(v1.Probe{FailureThreshold: 3})}
	f := newFixture(t, c)
	f.p.set(Liveness, fail)
	for i := range 2 {
		f.probe(Liveness)
		if _, kills, _ := f.rec.snapshot(); len(kills) != 0 {
			t.Fatalf("killed after %d failures", i+1)
		}
	}
	f.probe(Liveness)
	for range 5 { // on hold: no more probes of this instance
		if !f.probe(Liveness) {
			t.Fatal("held worker should keep waiting for removal")
		}
	}
	events, kills, changes := f.rec.snapshot()
	if f.p.count(Liveness) != 3 {
		t.Fatalf("probed %d times, want 3 (hold after the kill)", f.p.count(Liveness))
	}
	want := kill{"uid1", "cid1", "web", "Liveness", 30 * time.Second, "Container web failed liveness probe, will be restarted"}
	if len(kills) != 1 || kills[0] != want {
		t.Fatalf("kills = %+v, want [%+v]", kills, want)
	}
	if len(events) != 3 || events[0] != (recorded{"uid1", "Warning", "Unhealthy", "Liveness probe failed: boom"}) {
		t.Fatalf("events = %+v", events)
	}
	if len(changes) != 0 {
		t.Fatalf("liveness changed Ready/Started: %v", changes)
	}
	if !f.m.Ready("cid1") || !f.m.Started("cid1") {
		t.Fatalf("container without readiness/startup probes should be ready: %s", f)
	}
}

func TestKillGraceAndMessage(t *testing.T) {
	tests := []struct {
		name       string
		probeGrace *int64
		pod        int64
		policy     v1.RestartPolicy
		wantGrace  time.Duration
		wantMsg    string
	}{
		{"pod grace", nil, 30, "", 30 * time.Second, "Container web failed startup probe, will be restarted"},
		{"probe grace wins", ptr.To[int64](5), 30, v1.RestartPolicyOnFailure, 5 * time.Second, "Container web failed startup probe, will be restarted"},
		{"probe grace zero", ptr.To[int64](0), 30, v1.RestartPolicyAlways, 0, "Container web failed startup probe, will be restarted"},
		{"never restarts", nil, 7, v1.RestartPolicyNever, 7 * time.Second, "Container web failed startup probe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &v1.Container{Name: "web", StartupProbe: execProbe(v1.Probe{FailureThreshold: 2, TerminationGracePeriodSeconds: tc.probeGrace})}
			f := newFixture(t, c)
			f.inst.target.PodGracePeriod = tc.pod
			f.inst.target.RestartPolicy = tc.policy
			f.p.set(Startup, fail)
			f.probe(Startup)
			f.probe(Startup)
			_, kills, _ := f.rec.snapshot()
			if len(kills) != 1 || kills[0].probeType != "Startup" || kills[0].grace != tc.wantGrace || kills[0].message != tc.wantMsg {
				t.Fatalf("kills = %+v, want grace %v message %q", kills, tc.wantGrace, tc.wantMsg)
			}
			if f.m.Started("cid1") {
				t.Fatal("started after startup failure")
			}
		})
	}
}

func TestInitialDelay(t *testing.T) {
	c := &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{InitialDelaySeconds: 10})}
	f := newFixture(t, c)
	f.clk.SetTime(t0.Add(9*time.Second + 999*time.Millisecond))
	f.probe(Readiness)
	if n := f.p.count(Readiness); n != 0 {
		t.Fatalf("probed %d times before initialDelaySeconds", n)
	}
	f.clk.SetTime(t0.Add(10 * time.Second))
	f.probe(Readiness)
	if n := f.p.count(Readiness); n != 1 || !f.m.Ready("cid1") {
		t.Fatalf("probes = %d, ready = %v after initial delay", n, f.m.Ready("cid1"))
	}
}

func TestStartupGatesOtherProbes(t *testing.T) {
	c := &v1.Container{Name: "web",
		StartupProbe:   execProbe(v1.Probe{FailureThreshold: 30}),
		LivenessProbe:  execProbe(v1.Probe{}),
		ReadinessProbe: execProbe(v1.Probe{}),
	}
	f := newFixture(t, c)
	f.p.set(Startup, fail, fail, ok)
	for i := range 2 {
		if !f.probe(Startup) {
			t.Fatalf("startup worker stopped after failure %d", i+1)
		}
		f.probe(Liveness)
		f.probe(Readiness)
		if f.m.Started("cid1") || f.m.Ready("cid1") {
			t.Fatalf("after startup failure %d: %s", i+1, f)
		}
	}
	if f.p.count(Liveness)+f.p.count(Readiness) != 0 {
		t.Fatal("liveness/readiness probed before startup succeeded")
	}
	if f.probe(Startup) {
		t.Fatal("startup worker should finish once it succeeded")
	}
	if !f.m.Started("cid1") || f.m.Ready("cid1") {
		t.Fatalf("after startup success: %s, want started, not ready", f)
	}
	select {
	case <-f.inst.workers[Readiness].trigger:
	default:
		t.Fatal("readiness worker was not triggered by startup success")
	}
	if f.probe(Startup) || f.p.count(Startup) != 3 {
		t.Fatal("startup probed again after success")
	}
	f.probe(Readiness)
	f.probe(Liveness)
	if !f.m.Ready("cid1") || f.p.count(Liveness) != 1 {
		t.Fatalf("after startup: %s, liveness probes %d", f, f.p.count(Liveness))
	}
	_, _, changes := f.rec.snapshot()
	if len(changes) != 2 {
		t.Fatalf("onChange calls = %v, want started then ready", changes)
	}
}

func TestStartupWithoutReadinessMakesReady(t *testing.T) {
	c := &v1.Container{Name: "web", StartupProbe: execProbe(v1.Probe{})}
	f := newFixture(t, c)
	if f.m.Ready("cid1") {
		t.Fatal("ready before startup")
	}
	f.probe(Startup)
	if !f.m.Started("cid1") || !f.m.Ready("cid1") {
		t.Fatalf("after startup success: %s", f)
	}
}

func TestProbeErrorsAreThrownAway(t *testing.T) {
	c := &v1.Container{Name: "web", LivenessProbe: execProbe(v1.Probe{FailureThreshold: 1})}
	f := newFixture(t, c)
	f.p.set(Liveness, step{err: errors.New("no such container")})
	for range 3 {
		if !f.probe(Liveness) {
			t.Fatal("worker stopped on a probe error")
		}
	}
	events, kills, _ := f.rec.snapshot()
	if len(kills) != 0 {
		t.Fatalf("an erroring probe killed: %v", kills)
	}
	if f.p.count(Liveness) != 3*maxProbeRetries {
		t.Fatalf("probe attempts = %d, want %d", f.p.count(Liveness), 3*maxProbeRetries)
	}
	if len(events) != 3 || events[0].message != "Liveness probe errored: no such container" {
		t.Fatalf("events = %+v", events)
	}
}

func TestRemovedInstanceIsNotKilled(t *testing.T) {
	c := &v1.Container{Name: "web", LivenessProbe: execProbe(v1.Probe{FailureThreshold: 1})}
	f := newFixture(t, c)
	f.p.set(Liveness, fail)
	delete(f.m.containers, "cid1") // removed while its probe ran
	if f.probe(Liveness) {
		t.Fatal("worker of a removed instance should stop")
	}
	if _, kills, _ := f.rec.snapshot(); len(kills) != 0 {
		t.Fatalf("removed instance killed: %v", kills)
	}
}

func TestDefaults(t *testing.T) {
	p := withDefaults(Liveness, &v1.Probe{SuccessThreshold: 5, InitialDelaySeconds: -3})
	if p.TimeoutSeconds != 1 || p.PeriodSeconds != 10 || p.SuccessThreshold != 1 || p.FailureThreshold != 3 || p.InitialDelaySeconds != 0 {
		t.Fatalf("liveness defaults: %+v", p)
	}
	if r := withDefaults(Readiness, &v1.Probe{SuccessThreshold: 5}); r.SuccessThreshold != 5 {
		t.Fatalf("readiness success threshold = %d, want 5", r.SuccessThreshold)
	}
}
