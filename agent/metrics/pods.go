package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podStart is what is known of a pod's start until it is recorded, as
// kubelet's pod startup latency tracker keeps it.
type podStart struct {
	firstSeen time.Time
	// The image pull window: the first pull's start, the last pull's end.
	firstPull, lastPull time.Time
}

// PodAdded starts tracking the start of a pod this agent process sees for
// the first time, at firstSeen. Only pods added this way are recorded:
// pods re-adopted after an agent restart started long ago.
func (m *Metrics) PodAdded(uid types.UID, firstSeen time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.starts[uid] == nil {
		m.starts[uid] = &podStart{firstSeen: firstSeen}
	}
}

// ImagePulled notes an image pull of a pod that ran from start to end;
// the pull window is left out of the pod's start SLI.
func (m *Metrics) ImagePulled(uid types.UID, start, end time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.starts[uid]
	if s == nil {
		return
	}
	if s.firstPull.IsZero() || start.Before(s.firstPull) {
		s.firstPull = start
	}
	if end.After(s.lastPull) {
		s.lastPull = end
	}
}

// ObservePod looks at a pod's status as published at now. The first time
// every app container is running, the pod's start is recorded:
// kubelet_pod_start_duration_seconds from the first sighting, and
// kubelet_pod_start_sli_duration_seconds from the creation timestamp less
// the image pull window. A pod that ends before that is not recorded.
func (m *Metrics) ObservePod(pod *v1.Pod, now time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.starts[pod.UID]
	if s == nil {
		return
	}
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed || pod.DeletionTimestamp != nil {
		delete(m.starts, pod.UID)
		return
	}
	if !allRunning(pod) {
		return
	}
	delete(m.starts, pod.UID)
	m.podStart.Observe(now.Sub(s.firstSeen).Seconds())
	sli := now.Sub(pod.CreationTimestamp.Time) - s.lastPull.Sub(s.firstPull)
	first := ""
	if !pod.Spec.HostNetwork && !m.networkPodSeen {
		// The first pod with a network of its own also waited for the
		// node's network setup: kubelet tells it apart.
		first, m.networkPodSeen = "true", true
	}
	m.podStartSLI.WithLabelValues(first).Observe(sli.Seconds())
}

// allRunning tells whether every app container of the pod is running, as
// kubelet's startup SLI defines a started pod.
func allRunning(pod *v1.Pod) bool {
	if len(pod.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running == nil || cs.State.Running.StartedAt.IsZero() {
			return false
		}
	}
	return true
}

// ForgetPod drops what is kept of a removed pod: its start tracking and
// its per-pod series, so that pod names do not pile up.
func (m *Metrics) ForgetPod(uid types.UID, namespace, name string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.starts, uid)
	m.mu.Unlock()
	m.probes.DeletePartialMatch(prometheus.Labels{"pod_uid": string(uid)})
	// Only one pod of a name exists at a time: a newer one starts after
	// the older one is forgotten.
	pod := prometheus.Labels{"namespace": namespace, "pod": name}
	m.probeDuration.DeletePartialMatch(pod)
	m.oomKills.DeletePartialMatch(pod)
}

// Counts are the node's pods and containers as the running gauges show
// them, read at each scrape.
type Counts struct {
	// RunningPods are the pods holding a sandbox.
	RunningPods int
	// Containers are the runtime containers the pods hold, by
	// container_state (StateCreated, StateRunning, StateExited,
	// StateUnknown).
	Containers map[string]int
}

// SetCounts sets the function the running gauges read at each scrape; it
// must be safe to call from any goroutine. Before it is set they show 0.
func (m *Metrics) SetCounts(f func() Counts) {
	if m == nil {
		return
	}
	m.counts.Store(&f)
}

// gauges are kubelet_running_pods and kubelet_running_containers, computed
// at scrape time.
type gauges struct{ m *Metrics }

var (
	runningPodsDesc = prometheus.NewDesc("kubelet_running_pods",
		"Pods that have a pod sandbox.", nil, nil)
	runningContainersDesc = prometheus.NewDesc("kubelet_running_containers",
		"Containers the runtime holds for the pods, by container state.", []string{"container_state"}, nil)
)

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- runningPodsDesc
	ch <- runningContainersDesc
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	var c Counts
	if f := g.m.counts.Load(); f != nil {
		c = (*f)()
	}
	ch <- prometheus.MustNewConstMetric(runningPodsDesc, prometheus.GaugeValue, float64(c.RunningPods))
	for _, state := range containerStates {
		ch <- prometheus.MustNewConstMetric(runningContainersDesc, prometheus.GaugeValue, float64(c.Containers[state]), state)
	}
}
