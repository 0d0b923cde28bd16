package agent

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/agent/eviction"
	"github.com/miniagent/miniagent/agent/metrics"
	"github.com/miniagent/miniagent/runtime"
)

// sample is the value of the series of family name whose labels include
// the given name, value pairs: a counter's or gauge's value, a histogram's
// count. ok is false when there is no such series.
func sample(t *testing.T, m *metrics.Metrics, name string, labels ...string) (v float64, ok bool) {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			switch {
			case s.Counter != nil:
				return s.GetCounter().GetValue(), true
			case s.Gauge != nil:
				return s.GetGauge().GetValue(), true
			case s.Histogram != nil:
				return float64(s.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func (h *harness) metricIs(m *metrics.Metrics, want float64, name string, labels ...string) {
	h.t.Helper()
	h.eventually(name+"{"+strings.Join(labels, ",")+"}", func() bool {
		v, ok := sample(h.t, m, name, labels...)
		return ok && v == want
	})
}

const webPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  restartPolicy: Always
  initContainers:
  - name: init
    image: busybox
    imagePullPolicy: IfNotPresent
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    readinessProbe:
      exec:
        command: ["true"]
`

// TestMetricsOfAPodsLife runs a pod through start, an OOM kill, an
// eviction and its deletion, and checks what the metrics say after each.
func TestMetricsOfAPodsLife(t *testing.T) {
	h := newHarness(t)
	h.stop()
	m := metrics.New()
	h.metrics = m
	h.start()

	h.apply(webPod)
	uid := string(h.pod("web").UID)
	init := h.waitRunning("web", "init")
	h.clock.Step(3 * time.Second)
	_ = h.rt.Exit(init, 0, h.clock.Now())
	app := h.waitRunning("web", "app")

	// Seen, created and running 3 s apart: one pod start of 3 s, the
	// first pod with a network namespace of its own.
	h.metricIs(m, 1, "kubelet_pod_start_duration_seconds")
	want := `
# HELP kubelet_pod_start_duration_seconds Seconds from the agent first seeing a pod to the pod running.
# TYPE kubelet_pod_start_duration_seconds histogram
`
	for _, le := range []string{"0.5", "1", "2"} {
		want += `kubelet_pod_start_duration_seconds_bucket{le="` + le + `"} 0` + "\n"
	}
	for _, le := range []string{"3", "4", "5", "6", "8", "10", "20", "30", "45", "60", "120", "180", "240", "300",
		"360", "480", "600", "900", "1200", "1800", "2700", "3600", "+Inf"} {
		want += `kubelet_pod_start_duration_seconds_bucket{le="` + le + `"} 1` + "\n"
	}
	want += "kubelet_pod_start_duration_seconds_sum 3\nkubelet_pod_start_duration_seconds_count 1\n"
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "kubelet_pod_start_duration_seconds"); err != nil {
		t.Error(err)
	}
	h.metricIs(m, 1, "kubelet_pod_start_sli_duration_seconds", "first_with_network", "true")
	h.metricIs(m, 1, "kubelet_started_pods_total")
	h.metricIs(m, 1, "kubelet_started_containers_total", "container_type", "init_container")
	h.metricIs(m, 1, "kubelet_started_containers_total", "container_type", "container")
	h.metricIs(m, 1, "kubelet_pod_worker_duration_seconds", "operation_type", "create")
	// The readiness probe ran (through the runtime's exec) and passed. Its
	// first run waits a random part of its period (kubelet's start jitter).
	h.eventually("ready", func() bool {
		h.clock.Step(200 * time.Millisecond)
		time.Sleep(2 * time.Millisecond)
		return h.pod("web").Status.ContainerStatuses[0].Ready
	})
	h.metricIs(m, 1, "prober_probe_total", "probe_type", "Readiness", "result", "successful",
		"container", "app", "pod", "web", "namespace", "default", "pod_uid", uid)
	h.metricIs(m, 1, "prober_probe_duration_seconds", "probe_type", "Readiness", "pod", "web")
	h.metricIs(m, 1, "kubelet_runtime_operations_total", "operation_type", "exec_sync")
	h.metricIs(m, 1, "kubelet_runtime_operations_total", "operation_type", "run_podsandbox")

	// The app is OOM-killed and restarted.
	if err := h.rt.OOM(app); err != nil {
		t.Fatal(err)
	}
	h.eventually("app restarted", func() bool {
		id := h.containerID("web", "app")
		return id != app && h.pod("web").Status.ContainerStatuses[0].State.Running != nil
	})
	h.metricIs(m, 1, "miniagent_container_oom_kills_total", "namespace", "default", "pod", "web", "container", "app")
	h.metricIs(m, 2, "kubelet_started_containers_total", "container_type", "container")
	h.metricIs(m, 3, "kubelet_runtime_operations_total", "operation_type", "start_container")
	// At scrape time: one pod with a sandbox and the new app running; the
	// completed init and the OOM-killed app were removed from the runtime
	// once they exited.
	h.metricIs(m, 1, "kubelet_running_pods")
	h.metricIs(m, 1, "kubelet_running_containers", "container_state", "running")
	h.metricIs(m, 0, "kubelet_running_containers", "container_state", "exited")
	h.metricIs(m, 0, "kubelet_running_containers", "container_state", "created")
	if v, _ := sample(t, m, "kubelet_pod_start_duration_seconds"); v != 1 {
		t.Errorf("pod start recorded %v times, want once", v)
	}

	// The node runs low on memory: the eviction manager evicts the pod.
	th, err := eviction.ParseThresholds(eviction.Config{Hard: eviction.DefaultHard})
	if err != nil {
		t.Fatal(err)
	}
	const mi = 1 << 20
	em := eviction.NewManager(eviction.ManagerConfig{
		Thresholds: th, Clock: h.clock,
		Observe: func() (eviction.Observation, error) {
			return eviction.Observation{Signals: map[eviction.Signal]eviction.SignalObservation{
				eviction.SignalMemoryAvailable: {Capacity: 1024 * mi, Available: 50 * mi}}}, nil
		},
		ListPods: func() []eviction.PodStats { return []eviction.PodStats{{Pod: h.pod("web"), WorkingSet: 200 * mi}} },
		Evict:    h.a.evictForPressure,
		Evicted:  h.a.countEviction,
		Log:      slog.New(slog.DiscardHandler),
	})
	if got, err := em.Synchronize(); err != nil || got != uid {
		t.Fatalf("eviction step evicted %q (%v), want %s", got, err, uid)
	}
	h.eventually("Failed, released", func() bool {
		return h.pod("web").Status.Phase == v1.PodFailed && h.a.podCleanedUp(uid)
	})
	h.metricIs(m, 1, "kubelet_evictions", "eviction_signal", "memory.available")
	h.metricIs(m, 1, "kubelet_pod_worker_duration_seconds", "operation_type", "update")
	h.metricIs(m, 0, "kubelet_running_pods")
	h.metricIs(m, 0, "kubelet_running_containers", "container_state", "running")

	// Deleted: the pod's own series go.
	if _, err := h.a.DeletePod(context.Background(), "default", "web", nil, true); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"miniagent_container_oom_kills_total", "prober_probe_total", "prober_probe_duration_seconds"} {
		if _, ok := sample(t, m, name, "pod", "web"); ok {
			t.Errorf("%s still has a series of the deleted pod", name)
		}
	}
	h.metricIs(m, 1, "kubelet_evictions", "eviction_signal", "memory.available")
	h.metricIs(m, 1, "kubelet_pod_worker_duration_seconds", "operation_type", "create")
}

func TestHeldByCountsWhatARecordHolds(t *testing.T) {
	rec := &podRecord{Sandbox: &runtime.Sandbox{PodUID: "u"}, Stale: []string{"s1"}, Containers: map[string]*containerRecord{
		"a": {Current: &instance{ID: "a2", StartedAt: t0}, Last: &instance{ID: "a1", StartedAt: t0, Exited: true}},
		"b": {Current: &instance{ID: "b1", CreatedAt: t0}}, // created, never started
		"c": {Current: &instance{ID: "c1", StartedAt: t0, Exited: true, Removed: true}},
	}}
	h := heldBy(rec)
	want := map[string]int{metrics.StateRunning: 1, metrics.StateExited: 1, metrics.StateCreated: 1, metrics.StateUnknown: 1}
	if !h.sandbox || !maps.Equal(h.containers, want) {
		t.Fatalf("heldBy = %+v, want sandbox and %v", h, want)
	}
	if h := heldBy(&podRecord{}); h.sandbox || len(h.containers) != 0 {
		t.Fatalf("empty record holds %+v", h)
	}
}

func TestSyncOperation(t *testing.T) {
	w := &podWorker{}
	for i, tc := range []struct {
		in   inbox
		want string
	}{
		{inbox{deleting: true}, metrics.OperationCreate}, // the first sync is a create, whatever it carries
		{inbox{}, metrics.OperationSync},
		{inbox{exits: []exitObservation{{ID: "x"}}}, metrics.OperationSync},
		{inbox{kills: []killRequest{{ContainerID: "x"}}}, metrics.OperationSync},
		{inbox{evict: &evictRequest{Reason: "Evicted"}}, metrics.OperationUpdate},
		{inbox{deleting: true}, metrics.OperationUpdate},
	} {
		if got := w.syncOperation(tc.in); got != tc.want {
			t.Errorf("sync %d: %s, want %s", i, got, tc.want)
		}
	}
}
