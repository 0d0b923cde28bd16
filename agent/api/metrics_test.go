package api_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/api/apitest"
	"github.com/miniagent/miniagent/agent/metrics"
	"github.com/miniagent/miniagent/probes"
	"github.com/miniagent/miniagent/runtime/fake"
)

// The families /metrics must list once each has seen something.
var families = []string{
	"kubelet_pod_start_duration_seconds", "kubelet_pod_start_sli_duration_seconds",
	"kubelet_pod_worker_duration_seconds", "kubelet_running_pods", "kubelet_running_containers",
	"kubelet_started_containers_total", "kubelet_started_pods_total", "kubelet_evictions",
	"kubelet_runtime_operations_total", "kubelet_runtime_operations_duration_seconds",
	"kubelet_runtime_operations_errors_total", "prober_probe_total", "prober_probe_duration_seconds",
	"miniagent_container_oom_kills_total", "miniagent_probe_queue_wait_seconds",
	"go_goroutines", "process_start_time_seconds",
}

// touchAll gives every family of m a sample.
func touchAll(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	now := time.Now()
	m.PodWorkerSynced(metrics.OperationCreate, time.Millisecond)
	m.PodSandboxCreated()
	m.ContainerStarted(false)
	m.Evicted("memory.available")
	m.ContainerOOMKilled("default", "web", "app")
	m.ObserveProbe(probes.Observation{Type: probes.Liveness, PodUID: "u1", Namespace: "default", PodName: "web",
		ContainerName: "app", Success: true})
	m.ObserveProbeQueueWait(time.Millisecond)
	m.SetCounts(func() metrics.Counts { return metrics.Counts{RunningPods: 1} })
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "u1"}}
	pod.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "app",
		State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(now)}}}}
	m.PodAdded(pod.UID, now)
	m.ObservePod(pod, now)
	rt := m.InstrumentRuntime(fake.New(clock.RealClock{}), nil)
	if _, err := rt.ImageStatus(context.Background(), "nope"); err == nil {
		t.Fatal("image status of a missing image did not fail")
	}
}

func TestMetricsOnTheAPISocket(t *testing.T) {
	m := metrics.New()
	touchAll(t, m)
	srv := api.NewServer(apitest.New(), slog.New(slog.DiscardHandler))
	srv.Handle("GET /metrics", m.Handler())
	sock := filepath.Join(t.TempDir(), "miniagent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, sock) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	code, hdr, body := raw(t, sock, "GET", "/metrics", "")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s\n%s", code, hdr.Get("Content-Type"), body)
	}
	for _, f := range families {
		if !strings.Contains(string(body), "\n# TYPE "+f+" ") {
			t.Errorf("no family %s in /metrics", f)
		}
	}
	// The API's own routes still answer beside it.
	if code, _, body := raw(t, sock, "GET", "/api/v1/pods", ""); code != http.StatusOK {
		t.Errorf("GET /api/v1/pods next to /metrics: %d %s", code, body)
	}
	if code, _, _ := raw(t, sock, "POST", "/metrics", ""); code != http.StatusNotFound {
		t.Errorf("POST /metrics: %d, want 404", code)
	}
}
