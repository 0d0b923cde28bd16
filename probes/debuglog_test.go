package probes

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestLastTick(t *testing.T) {
	start := t0
	tests := []struct {
		name   string
		now    time.Time
		period time.Duration
		want   time.Time
	}{
		{"at start", start, time.Second, start},
		{"before start", start.Add(-time.Second), time.Second, start},
		{"between ticks", start.Add(2500 * time.Millisecond), time.Second, start.Add(2 * time.Second)},
		{"on a tick", start.Add(30 * time.Second), 10 * time.Second, start.Add(30 * time.Second)},
		{"just before a tick", start.Add(30*time.Second - time.Nanosecond), 10 * time.Second, start.Add(20 * time.Second)},
		{"zero period", start.Add(time.Hour), 0, start},
	}
	for _, tc := range tests {
		if got := lastTick(start, tc.now, tc.period); !got.Equal(tc.want) {
			t.Errorf("%s: lastTick = %v, want %v", tc.name, got.Sub(start), tc.want.Sub(start))
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the worker goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(msg string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, "msg="+msg+" ") {
			out = append(out, l)
		}
	}
	return out
}

// TestProbeDebugLine checks the "probe" debug line the probe benchmark
// parses: how late each probe began against its schedule.
func TestProbeDebugLine(t *testing.T) {
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, rec, clk := newScriptProber(), &recorder{}, clocktesting.NewFakeClock(t0)
	m := newManager(p, clk, rec, rec, rec.onChange, log)
	m.start = t0.Add(-time.Hour) // up for an hour: no start jitter (see firstDue)
	t.Cleanup(m.Stop)
	p.set(Readiness, ok, fail)
	c := &v1.Container{Name: "web", ReadinessProbe: execProbe(v1.Probe{PeriodSeconds: 10, InitialDelaySeconds: 5})}
	m.AddContainer(target("c1", "p1", c))

	waitFor(t, time.Second, "initial-delay timer", clk.HasWaiters)
	clk.Step(5 * time.Second) // first probe exactly on time
	waitFor(t, time.Second, "first probe line", func() bool { return len(buf.lines("probe")) == 1 })
	waitFor(t, time.Second, "ticker", clk.HasWaiters)
	clk.Step(12 * time.Second) // the tick was due 2 s ago
	waitFor(t, time.Second, "second probe line", func() bool { return len(buf.lines("probe")) == 2 })

	lines := buf.lines("probe")
	for i, want := range []string{
		"probe=Readiness pod=ns/pod-p1 container=web result=success begin_us=" + itoa(t0.Add(5*time.Second).UnixMicro()) + " latency_us=0 late_us=0",
		"result=failure begin_us=" + itoa(t0.Add(17*time.Second).UnixMicro()) + " latency_us=0 late_us=2000000",
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("probe line %d = %q, want it to contain %q", i, lines[i], want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
