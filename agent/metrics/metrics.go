package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/types"
)

// Label values kubelet uses.
const (
	// container_type of kubelet_started_containers_total.
	ContainerTypeContainer = "container"
	ContainerTypeInit      = "init_container"

	// operation_type of kubelet_pod_worker_duration_seconds.
	OperationCreate = "create"
	OperationUpdate = "update"
	OperationSync   = "sync"

	// container_state of kubelet_running_containers.
	StateCreated = "created"
	StateRunning = "running"
	StateExited  = "exited"
	StateUnknown = "unknown"
)

// containerStates are the container_state values always exported.
var containerStates = []string{StateCreated, StateRunning, StateExited, StateUnknown}

// podStartBuckets are kubelet's pod startup buckets (seconds): roughly
// exponential but round in everyday units, from half a second to an hour.
var podStartBuckets = []float64{0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600}

// runtimeBuckets are kubelet's runtime operation buckets: 5 ms × 2.5^n, n < 14.
var runtimeBuckets = prometheus.ExponentialBuckets(0.005, 2.5, 14)

// Metrics is the agent's set of metrics in its own registry. A nil
// *Metrics is valid: every method then does nothing.
type Metrics struct {
	reg *prometheus.Registry

	podStart          prometheus.Histogram
	podStartSLI       *prometheus.HistogramVec
	podWorker         *prometheus.HistogramVec
	startedPods       prometheus.Counter
	startedContainers *prometheus.CounterVec
	evictions         *prometheus.CounterVec
	runtimeOps        *prometheus.CounterVec
	runtimeErrors     *prometheus.CounterVec
	runtimeDuration   *prometheus.HistogramVec
	probes            *prometheus.CounterVec
	probeDuration     *prometheus.HistogramVec
	probeQueueWait    prometheus.Histogram
	oomKills          *prometheus.CounterVec

	counts atomic.Pointer[func() Counts]

	mu sync.Mutex // guards starts and networkPodSeen
	// starts are the pods seen by this process whose start is not
	// recorded yet.
	starts         map[types.UID]*podStart
	networkPodSeen bool // the first pod with its own network namespace was recorded
}

// New returns the metrics registered in a fresh registry, with the Go and
// process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), starts: map[types.UID]*podStart{}}
	m.podStart = prometheus.NewHistogram(prometheus.HistogramOpts{
		Subsystem: "kubelet", Name: "pod_start_duration_seconds",
		Help:    "Seconds from the agent first seeing a pod to the pod running.",
		Buckets: podStartBuckets,
	})
	m.podStartSLI = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Subsystem: "kubelet", Name: "pod_start_sli_duration_seconds",
		Help:    "Seconds to start a pod, from its creation timestamp to all its containers seen started, without the time spent pulling images.",
		Buckets: podStartBuckets,
	}, []string{"first_with_network"})
	m.podWorker = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Subsystem: "kubelet", Name: "pod_worker_duration_seconds",
		Help:    "Seconds one sync of a pod takes, by operation type: create, update or sync.",
		Buckets: prometheus.DefBuckets,
	}, []string{"operation_type"})
	m.startedPods = prometheus.NewCounter(prometheus.CounterOpts{
		Subsystem: "kubelet", Name: "started_pods_total",
		Help: "Pods started (pod sandboxes created) since the agent started.",
	})
	m.startedContainers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Subsystem: "kubelet", Name: "started_containers_total",
		Help: "Containers started since the agent started, by container type.",
	}, []string{"container_type"})
	m.evictions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Subsystem: "kubelet", Name: "evictions",
		Help: "Pods evicted by the agent for node pressure, by eviction signal.",
	}, []string{"eviction_signal"})
	m.runtimeOps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Subsystem: "kubelet", Name: "runtime_operations_total",
		Help: "Container runtime operations, by operation type.",
	}, []string{"operation_type"})
	m.runtimeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Subsystem: "kubelet", Name: "runtime_operations_errors_total",
		Help: "Container runtime operations that failed, by operation type.",
	}, []string{"operation_type"})
	m.runtimeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Subsystem: "kubelet", Name: "runtime_operations_duration_seconds",
		Help:    "Seconds container runtime operations take, by operation type.",
		Buckets: runtimeBuckets,
	}, []string{"operation_type"})
	m.probes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Subsystem: "prober", Name: "probe_total",
		Help: "Liveness, readiness and startup probe runs of a container, by result.",
	}, []string{"probe_type", "result", "container", "pod", "namespace", "pod_uid"})
	m.probeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Subsystem: "prober", Name: "probe_duration_seconds",
		Help:    "Seconds a probe takes to answer.",
		Buckets: prometheus.DefBuckets,
	}, []string{"probe_type", "container", "pod", "namespace"})
	m.probeQueueWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "miniagent", Name: "probe_queue_wait_seconds",
		Help:    "Seconds a due exec probe waited for one of the bounded exec slots before it ran (prober saturation).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	})
	m.oomKills = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "miniagent", Name: "container_oom_kills_total",
		Help: "Containers the kernel OOM killer ended, by pod and container.",
	}, []string{"namespace", "pod", "container"})
	m.reg.MustRegister(
		m.podStart, m.podStartSLI, m.podWorker, m.startedPods, m.startedContainers, m.evictions,
		m.runtimeOps, m.runtimeErrors, m.runtimeDuration, m.probes, m.probeDuration, m.probeQueueWait,
		m.oomKills, &gauges{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the registry the metrics live in, for tests and for adding
// more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// PodWorkerSynced records one pod worker sync of operation type op
// (OperationCreate, OperationUpdate or OperationSync) that took d.
func (m *Metrics) PodWorkerSynced(op string, d time.Duration) {
	if m == nil {
		return
	}
	m.podWorker.WithLabelValues(op).Observe(d.Seconds())
}

// PodSandboxCreated counts a started pod: its sandbox was created.
func (m *Metrics) PodSandboxCreated() {
	if m == nil {
		return
	}
	m.startedPods.Inc()
}

// ContainerStarted counts a container the runtime started; init tells an
// init container (sidecars included) from an app container.
func (m *Metrics) ContainerStarted(init bool) {
	if m == nil {
		return
	}
	typ := ContainerTypeContainer
	if init {
		typ = ContainerTypeInit
	}
	m.startedContainers.WithLabelValues(typ).Inc()
}

// Evicted counts a pod eviction the agent accepted for signal, e.g.
// "memory.available".
func (m *Metrics) Evicted(signal string) {
	if m == nil {
		return
	}
	m.evictions.WithLabelValues(signal).Inc()
}

// ContainerOOMKilled counts an exit of a container the OOM killer ended.
func (m *Metrics) ContainerOOMKilled(namespace, pod, container string) {
	if m == nil {
		return
	}
	m.oomKills.WithLabelValues(namespace, pod, container).Inc()
}
