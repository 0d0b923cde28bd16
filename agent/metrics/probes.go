package metrics

import (
	"time"

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
func (m *Metrics) ObserveProbe(o probes.Observation) {
	if m == nil {
		return
	}
	result := ProbeFailed
	if o.Success {
		result = ProbeSuccessful
	}
	m.probes.WithLabelValues(string(o.Type), result, o.ContainerName, o.PodName, o.Namespace, o.PodUID).Inc()
	if o.Success {
		m.probeDuration.WithLabelValues(string(o.Type), o.ContainerName, o.PodName, o.Namespace).Observe(o.Duration.Seconds())
	}
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
