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
		o := got[i]
		if o.Memo == nil || o.Memo != got[0].Memo {
			t.Errorf("observation %d has memo %p, want the probe's one slot %p", i, o.Memo, got[0].Memo)
		}
		o.Memo = nil
		if o != w {
			t.Errorf("observation %d = %+v, want %+v", i, o, w)
		}
	}
}

// Each probe of each container instance has its own memo slot, kept from
// run to run; the Manager leaves what the observer put there alone.
func TestObserverMemoIsPerProbe(t *testing.T) {
	f := newFixture(t, &v1.Container{Name: "web",
		LivenessProbe:  execProbe(v1.Probe{PeriodSeconds: 10}),
		ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 10})})
	seen := map[ProbeType][]any{}
	f.m.SetObserver(func(o Observation) {
		seen[o.Type] = append(seen[o.Type], *o.Memo)
		*o.Memo = string(o.Type) + "'s"
	})
	for range 2 {
		f.probe(Liveness)
		f.probe(Readiness)
	}
	for _, kind := range []ProbeType{Liveness, Readiness} {
		if got := seen[kind]; len(got) != 2 || got[0] != nil || got[1] != string(kind)+"'s" {
			t.Errorf("%s memo on each run: %v, want [<nil> %s's]", kind, got, kind)
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

func TestNilObserverKeepsTheObserver(t *testing.T) {
	f := newFixture(t, &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 10})})
	runs := 0
	f.m.SetObserver(func(Observation) { runs++ })
	f.m.SetObserver(nil)
	f.probe(Readiness)
	if runs != 1 {
		t.Fatalf("%d runs observed after SetObserver(nil), want 1: nil does nothing", runs)
	}
}
