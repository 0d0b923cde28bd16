package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/miniagent/miniagent/probes"
)

// prober_probe_total result values, as kubelet's.
const (
	ProbeSuccessful = "successful"
	ProbeFailed     = "failed"
)

// ObserveProbe records one probe run; pass it to probes.Manager.SetObserver.
// Every run is counted in prober_probe_total; successful runs are also
// timed in prober_probe_duration_seconds, as kubelet times only those.
// The series of a probe are looked up once and kept in o.Memo: a lookup
// hashes the six label values on every run otherwise. A series is made on
// the probe's first run of that result, so a probe that never failed has
// no "failed" series, as before.
func (m *Metrics) ObserveProbe(o probes.Observation) {
	if m == nil {
		return
	}
	var s *probeSeries
	if o.Memo != nil {
		s, _ = (*o.Memo).(*probeSeries)
	}
	if s == nil || s.of != m {
		s = &probeSeries{of: m}
		if o.Memo != nil {
			*o.Memo = s
		}
	}
	if !o.Success {
		if s.failed == nil {
			s.failed = m.probes.WithLabelValues(string(o.Type), ProbeFailed, o.ContainerName, o.PodName, o.Namespace, o.PodUID)
		}
		s.failed.Inc()
		return
	}
	if s.ok == nil {
		s.ok = m.probes.WithLabelValues(string(o.Type), ProbeSuccessful, o.ContainerName, o.PodName, o.Namespace, o.PodUID)
		s.duration = m.probeDuration.WithLabelValues(string(o.Type), o.ContainerName, o.PodName, o.Namespace)
	}
	s.ok.Inc()
	s.duration.Observe(o.Duration.Seconds())
}

// probeSeries are one probe's series, kept in its Observation.Memo. A
// probe's labels do not change while its worker runs; ForgetPod, which
// drops the series of a removed pod, comes once its workers are stopped,
// and a run that still comes after it counts on a series no longer
// exported instead of bringing it back.
type probeSeries struct {
	of         *Metrics // whose series these are
	ok, failed prometheus.Counter
	duration   prometheus.Observer
}

// ProbeQueueObserver is what a prober that queues due probes (a bounded
// number running at once) feeds: how long each due probe waited for its
// turn (probes.Manager.SetWaitObserver).
type ProbeQueueObserver interface {
	ObserveProbeQueueWait(wait time.Duration)
}

var _ ProbeQueueObserver = (*Metrics)(nil)

// ObserveProbeQueueWait records how long a due probe waited before it ran.
func (m *Metrics) ObserveProbeQueueWait(wait time.Duration) {
	if m == nil {
		return
	}
	m.probeQueueWait.Observe(wait.Seconds())
}
