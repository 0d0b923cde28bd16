package probes

import (
	"context"
	"errors"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

func TestObserverSeesRunsWithResults(t *testing.T) {
	f := newFixture(t, &v1.Container{Name: "web",
		LivenessProbe: execProbe(v1.Probe{PeriodSeconds: 10, FailureThreshold: 3})})
	var got []Observation
	f.m.SetObserver(func(o Observation) { got = append(got, o) })
	f.p.set(Liveness, ok, step{out: outcomeWarning, msg: "redirect"}, fail, step{err: errors.New("no exec")})
	for range 3 {
		f.probe(Liveness)
	}
	// An errored run (tried maxProbeRetries times) is not observed.
	f.probe(Liveness)
	if len(got) != 3 {
		t.Fatalf("observations = %+v, want 3", got)
	}
	want := Observation{Type: Liveness, PodUID: "uid1", Namespace: "ns", PodName: "pod", ContainerName: "web"}
	for i, success := range []bool{true, true, false} {
		w := want
		w.Success = success
		if got[i] != w {
			t.Errorf("observation %d = %+v, want %+v", i, got[i], w)
		}
	}
}

// slowProber takes d of the fake clock per run.
type slowProber struct {
	f *fixture
	d time.Duration
}

func (s slowProber) probe(ctx context.Context, kind ProbeType, t *Target, p *v1.Probe) (outcome, string, error) {
	s.f.clk.Step(s.d)
	return outcomeSuccess, "", nil
}

func TestObserverTimesOnTheManagersClock(t *testing.T) {
	f := newFixture(t, &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 10})})
	f.m.prober = slowProber{f: f, d: 250 * time.Millisecond}
	var got []Observation
	f.m.SetObserver(func(o Observation) { got = append(got, o) })
	f.probe(Readiness)
	if len(got) != 1 || got[0].Duration != 250*time.Millisecond || !got[0].Success {
		t.Fatalf("observations = %+v", got)
	}
}

func TestNilObserverLeavesTheProberAlone(t *testing.T) {
	f := newFixture(t, &v1.Container{Name: "web"})
	before := f.m.prober
	f.m.SetObserver(nil)
	if f.m.prober != before {
		t.Fatal("a nil observer wrapped the prober")
	}
}
