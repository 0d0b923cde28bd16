package probes

import (
	"os"
	goruntime "runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// BenchmarkProbeFleet runs a real Manager with PROBES_FLEET pods (default
// 250), each with an HTTP readiness probe every second against a server in
// one pod-like network namespace, for PROBES_FLEET_SECONDS (default 20),
// and reports the process's CPU per probe: the probes as the daemon runs
// them (a worker goroutine and a ticker each, the process idle between
// probes), without the rest of the agent, with ticks on the default grid
// and, side by side, without a grid; "loop" is the network loop that runs
// the probes by default (netloop.go), the others give each probe a
// goroutine of its own, as before it. Run it with -benchtime 1x.
func BenchmarkProbeFleet(b *testing.B) {
	nsPath, httpPort, _, _ := benchNetNS(b)
	b.Run("loop", func(b *testing.B) { probeFleet(b, nsPath, httpPort, WithTickGrid(DefaultTickGrid)) })
	for _, grid := range []time.Duration{DefaultTickGrid, 0} {
		b.Run("goroutines/grid="+grid.String(), func(b *testing.B) {
			probeFleet(b, nsPath, httpPort, WithTickGrid(grid), WithoutNetLoop())
		})
	}
}

func probeFleet(b *testing.B, nsPath string, httpPort int32, opts ...Option) {
	pods, secs := envInt("PROBES_FLEET", 250), envInt("PROBES_FLEET_SECONDS", 20)
	runs := make(chan struct{}, 1<<16)
	m := NewManager(nil, clock.RealClock{}, nil, nil, nil, nil, opts...)
	m.SetObserver(func(Observation) { runs <- struct{}{} })
	spec := benchSpec("http", httpPort, 0, 0)
	spec.PeriodSeconds = 1
	for i := range pods {
		id := strconv.Itoa(i)
		m.AddContainer(Target{PodUID: id, Namespace: "ns", PodName: "pod-" + id, ContainerName: "web",
			ContainerID: "c" + id, Container: &v1.Container{Name: "web", ReadinessProbe: spec},
			StartedAt: time.Now(), NetNSPath: nsPath, PodIP: "127.0.0.1"})
	}
	time.Sleep(2 * time.Second) // past the start jitter
	for len(runs) > 0 {
		<-runs
	}
	b.ResetTimer()
	var (
		ru0, ru1 unix.Rusage
		ms0, ms1 goruntime.MemStats
	)
	goruntime.ReadMemStats(&ms0)
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	time.Sleep(time.Duration(secs) * time.Second)
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	goruntime.ReadMemStats(&ms1)
	sys := time.Duration(ru1.Stime.Nano() - ru0.Stime.Nano())
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + sys
	n := len(runs)
	b.StopTimer()
	m.Stop()
	if n == 0 {
		b.Fatal("no probe ran")
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-us/probe")
	b.ReportMetric(float64(sys.Microseconds())/float64(n), "sys-us/probe")
	b.ReportMetric(float64(n)/float64(secs), "probes/s")
	b.ReportMetric(100*cpu.Seconds()/float64(secs), "cpu-%")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(n), "allocs/probe")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
