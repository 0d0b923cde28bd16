package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/probes"
	"github.com/miniagent/miniagent/runtime"
	"github.com/miniagent/miniagent/runtime/fake"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func compare(t *testing.T, m *Metrics, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestNilMetricsDoNothing(t *testing.T) {
	var m *Metrics
	m.PodWorkerSynced(OperationSync, time.Second)
	m.PodSandboxCreated()
	m.ContainerStarted(true)
	m.Evicted("memory.available")
	m.ContainerOOMKilled("ns", "p", "c")
	m.PodAdded("uid", t0)
	m.ImagePulled("uid", t0, t0)
	m.ObservePod(&v1.Pod{}, t0)
	m.ForgetPod("uid", "ns", "p")
	m.SetCounts(func() Counts { return Counts{} })
	m.ObserveProbe(probes.Observation{})
	m.ObserveProbeQueueWait(time.Second)
	rt := fake.New(clocktesting.NewFakeClock(t0))
	if got := m.InstrumentRuntime(rt, nil); got != runtime.Runtime(rt) {
		t.Error("nil metrics wrapped the runtime")
	}
}

func TestCounters(t *testing.T) {
	m := New()
	m.PodSandboxCreated()
	m.ContainerStarted(false)
	m.ContainerStarted(false)
	m.ContainerStarted(true)
	m.Evicted("memory.available")
	m.ContainerOOMKilled("default", "web", "app")
	m.ContainerOOMKilled("default", "web", "app")
	compare(t, m, `
# HELP kubelet_started_pods_total Pods started (pod sandboxes created) since the agent started.
# TYPE kubelet_started_pods_total counter
kubelet_started_pods_total 1
# HELP kubelet_started_containers_total Containers started since the agent started, by container type.
# TYPE kubelet_started_containers_total counter
kubelet_started_containers_total{container_type="container"} 2
kubelet_started_containers_total{container_type="init_container"} 1
# HELP kubelet_evictions Pods evicted by the agent for node pressure, by eviction signal.
# TYPE kubelet_evictions counter
kubelet_evictions{eviction_signal="memory.available"} 1
# HELP miniagent_container_oom_kills_total Containers the kernel OOM killer ended, by pod and container.
# TYPE miniagent_container_oom_kills_total counter
miniagent_container_oom_kills_total{container="app",namespace="default",pod="web"} 2
`, "kubelet_started_pods_total", "kubelet_started_containers_total", "kubelet_evictions", "miniagent_container_oom_kills_total")
}

func TestPodWorkerBuckets(t *testing.T) {
	m := New()
	m.PodWorkerSynced(OperationCreate, 30*time.Millisecond)
	m.PodWorkerSynced(OperationSync, 2*time.Second)
	compare(t, m, `
# HELP kubelet_pod_worker_duration_seconds Seconds one sync of a pod takes, by operation type: create, update or sync.
# TYPE kubelet_pod_worker_duration_seconds histogram
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="0.005"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="0.01"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="0.025"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="0.05"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="0.1"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="0.25"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="0.5"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="1"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="2.5"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="5"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="10"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="create",le="+Inf"} 1
kubelet_pod_worker_duration_seconds_sum{operation_type="create"} 0.03
kubelet_pod_worker_duration_seconds_count{operation_type="create"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="0.005"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="0.01"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="0.025"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="0.05"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="0.1"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="0.25"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="0.5"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="1"} 0
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="2.5"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="5"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="10"} 1
kubelet_pod_worker_duration_seconds_bucket{operation_type="sync",le="+Inf"} 1
kubelet_pod_worker_duration_seconds_sum{operation_type="sync"} 2
kubelet_pod_worker_duration_seconds_count{operation_type="sync"} 1
`, "kubelet_pod_worker_duration_seconds")
}

// runningPod is a pod whose app containers are all running (or not).
func runningPod(uid string, created time.Time, hostNetwork bool, running ...bool) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID("uid-" + uid), Name: uid, Namespace: "default",
		CreationTimestamp: metav1.NewTime(created)}}
	p.Spec.HostNetwork = hostNetwork
	p.Status.Phase = v1.PodPending
	for i, r := range running {
		cs := v1.ContainerStatus{Name: fmt.Sprintf("c%d", i)}
		if r {
			cs.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(created)}
		} else {
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs)
	}
	return p
}

func TestPodStartIsRecordedOnceWhenAllContainersRun(t *testing.T) {
	m := New()
	// a: created 1 s before the agent saw it; a 20 s image pull; all its
	// containers run 25 s after it was seen.
	a := runningPod("a", t0.Add(-time.Second), false, true, false)
	m.PodAdded(a.UID, t0)
	m.ImagePulled(a.UID, t0.Add(2*time.Second), t0.Add(12*time.Second))
	m.ImagePulled(a.UID, t0.Add(13*time.Second), t0.Add(22*time.Second))
	m.ObservePod(a, t0.Add(20*time.Second)) // one container still waits
	a = runningPod("a", t0.Add(-time.Second), false, true, true)
	m.ObservePod(a, t0.Add(25*time.Second))
	m.ObservePod(a, t0.Add(99*time.Second)) // recorded once only
	// b: host network, not the first network pod; started in 4 s.
	b := runningPod("b", t0, true, true)
	m.PodAdded(b.UID, t0)
	m.ObservePod(b, t0.Add(4*time.Second))
	// c: re-adopted (never added): not recorded. d: failed before it ran.
	m.ObservePod(runningPod("c", t0, false, true), t0.Add(time.Hour))
	d := runningPod("d", t0, false, false)
	m.PodAdded(d.UID, t0)
	d.Status.Phase = v1.PodFailed
	m.ObservePod(d, t0.Add(time.Second))
	d.Status.Phase = v1.PodPending
	d.Status.ContainerStatuses[0] = runningPod("d", t0, false, true).Status.ContainerStatuses[0]
	m.ObservePod(d, t0.Add(2*time.Second))

	if n := testutil.CollectAndCount(m.podStart); n != 1 {
		t.Fatalf("%d pod start series", n)
	}
	if got := histogramSum(t, m, "kubelet_pod_start_duration_seconds", ""); got != 29 {
		t.Errorf("pod start sum = %v s, want 25 + 4", got)
	}
	// a: 26 s since creation less the 20 s pull window; b: 4 s.
	if got := histogramSum(t, m, "kubelet_pod_start_sli_duration_seconds", "true"); got != 6 {
		t.Errorf("first network pod's SLI = %v s, want 6", got)
	}
	if got := histogramSum(t, m, "kubelet_pod_start_sli_duration_seconds", ""); got != 4 {
		t.Errorf("other pods' SLI = %v s, want 4", got)
	}
	if n := testutil.CollectAndCount(m.podStartSLI); n != 2 {
		t.Errorf("%d SLI series, want 2", n)
	}
	if len(m.starts) != 0 {
		t.Errorf("tracking left: %v", m.starts)
	}
}

// histogramSum returns the sum of a histogram series (the one with
// first_with_network=label for the SLI histogram), and checks its count
// against the number of observations implied by the test.
func histogramSum(t *testing.T, m *Metrics, name, label string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			if name == "kubelet_pod_start_sli_duration_seconds" && s.GetLabel()[0].GetValue() != label {
				continue
			}
			return s.GetHistogram().GetSampleSum()
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}

func TestProbesAndForgetPod(t *testing.T) {
	m := New()
	web := probes.Observation{Type: probes.Readiness, PodUID: "u1", Namespace: "default", PodName: "web", ContainerName: "app",
		Success: true, Duration: 20 * time.Millisecond}
	m.ObserveProbe(web)
	m.ObserveProbe(web)
	web.Success, web.Duration = false, time.Second
	m.ObserveProbe(web)
	m.ObserveProbe(probes.Observation{Type: probes.Liveness, PodUID: "u2", Namespace: "default", PodName: "db", ContainerName: "pg", Success: true})
	m.ContainerOOMKilled("default", "web", "app")
	m.ContainerOOMKilled("default", "db", "pg")
	compare(t, m, `
# HELP prober_probe_total Liveness, readiness and startup probe runs of a container, by result.
# TYPE prober_probe_total counter
prober_probe_total{container="app",namespace="default",pod="web",pod_uid="u1",probe_type="Readiness",result="failed"} 1
prober_probe_total{container="app",namespace="default",pod="web",pod_uid="u1",probe_type="Readiness",result="successful"} 2
prober_probe_total{container="pg",namespace="default",pod="db",pod_uid="u2",probe_type="Liveness",result="successful"} 1
`, "prober_probe_total")
	// Only successful runs are timed.
	if got := histogramCount(t, m, "prober_probe_duration_seconds", "web"); got != 2 {
		t.Errorf("web probe durations = %d, want 2", got)
	}

	m.ForgetPod("u1", "default", "web")
	compare(t, m, `
# HELP prober_probe_total Liveness, readiness and startup probe runs of a container, by result.
# TYPE prober_probe_total counter
prober_probe_total{container="pg",namespace="default",pod="db",pod_uid="u2",probe_type="Liveness",result="successful"} 1
# HELP miniagent_container_oom_kills_total Containers the kernel OOM killer ended, by pod and container.
# TYPE miniagent_container_oom_kills_total counter
miniagent_container_oom_kills_total{container="pg",namespace="default",pod="db"} 1
`, "prober_probe_total", "miniagent_container_oom_kills_total")
	if n := testutil.CollectAndCount(m.probeDuration); n != 1 {
		t.Errorf("%d probe duration series after forgetting web, want 1 (db)", n)
	}
}

func histogramCount(t *testing.T, m *Metrics, name, pod string) uint64 {
	t.Helper()
	mfs, _ := m.Registry().Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "pod" && l.GetValue() == pod {
					return s.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func TestRunningGaugesAreReadAtScrape(t *testing.T) {
	m := New()
	compare(t, m, `
# HELP kubelet_running_pods Pods that have a pod sandbox.
# TYPE kubelet_running_pods gauge
kubelet_running_pods 0
`, "kubelet_running_pods")
	pods := 2
	m.SetCounts(func() Counts {
		return Counts{RunningPods: pods, Containers: map[string]int{StateRunning: 3, StateExited: 1}}
	})
	pods = 1
	compare(t, m, `
# HELP kubelet_running_pods Pods that have a pod sandbox.
# TYPE kubelet_running_pods gauge
kubelet_running_pods 1
# HELP kubelet_running_containers Containers the runtime holds for the pods, by container state.
# TYPE kubelet_running_containers gauge
kubelet_running_containers{container_state="created"} 0
kubelet_running_containers{container_state="exited"} 1
kubelet_running_containers{container_state="running"} 3
kubelet_running_containers{container_state="unknown"} 0
`, "kubelet_running_pods", "kubelet_running_containers")
}

// slowPulls is the fake runtime with pulls that take 3 s of the fake clock.
type slowPulls struct {
	*fake.Runtime
	clk *clocktesting.FakeClock
}

func (s slowPulls) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.ImageInfo, error) {
	s.clk.Step(3 * time.Second)
	return s.Runtime.PullImage(ctx, ref, opts)
}

func TestRuntimeWrapperCountsAndTimes(t *testing.T) {
	m := New()
	clk := clocktesting.NewFakeClock(t0)
	f := fake.New(clk)
	rt := m.InstrumentRuntime(slowPulls{f, clk}, clk)
	ctx := context.Background()
	if _, err := rt.PullImage(ctx, "docker.io/library/busybox:latest", runtime.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ImageStatus(ctx, "docker.io/library/nope:latest"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("image status of a missing image: %v", err)
	}
	_ = rt.Healthy(ctx)
	f.FailNext("StartContainer", errors.New("boom"))
	if _, err := rt.StartContainer(ctx, "c1"); err == nil {
		t.Fatal("start did not fail")
	}
	compare(t, m, `
# HELP kubelet_runtime_operations_total Container runtime operations, by operation type.
# TYPE kubelet_runtime_operations_total counter
kubelet_runtime_operations_total{operation_type="image_status"} 1
kubelet_runtime_operations_total{operation_type="pull_image"} 1
kubelet_runtime_operations_total{operation_type="start_container"} 1
kubelet_runtime_operations_total{operation_type="status"} 1
# HELP kubelet_runtime_operations_errors_total Container runtime operations that failed, by operation type.
# TYPE kubelet_runtime_operations_errors_total counter
kubelet_runtime_operations_errors_total{operation_type="image_status"} 1
kubelet_runtime_operations_errors_total{operation_type="start_container"} 1
`, "kubelet_runtime_operations_total", "kubelet_runtime_operations_errors_total")
	out, err := testutil.CollectAndFormat(m.runtimeDuration, expfmt.TypeTextPlain, "kubelet_runtime_operations_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	// kubelet's buckets: 5 ms × 2.5^n; the 3 s pull falls between 1.22 and 3.05 s.
	for _, line := range []string{
		`kubelet_runtime_operations_duration_seconds_bucket{operation_type="pull_image",le="1.220703125"} 0`,
		`kubelet_runtime_operations_duration_seconds_bucket{operation_type="pull_image",le="3.0517578125"} 1`,
		`kubelet_runtime_operations_duration_seconds_sum{operation_type="pull_image"} 3`,
		`kubelet_runtime_operations_duration_seconds_bucket{operation_type="status",le="0.005"} 1`,
	} {
		if !strings.Contains(string(out), line+"\n") {
			t.Errorf("no line %q in\n%s", line, out)
		}
	}
}

// A probe's series are looked up on its first run of each result and kept
// in its memo: later runs count on them, a run after ForgetPod does not
// bring the pod's series back, and a memo filled by another Metrics is
// not used.
func TestProbeSeriesKeptInMemo(t *testing.T) {
	m := New()
	var memo any
	web := probes.Observation{Type: probes.Readiness, PodUID: "u1", Namespace: "default", PodName: "web", ContainerName: "app",
		Success: true, Duration: 20 * time.Millisecond, Memo: &memo}
	m.ObserveProbe(web)
	s, ok := memo.(*probeSeries)
	if !ok || s.ok == nil || s.failed != nil {
		t.Fatalf("memo after a success = %#v, want the successful series only", memo)
	}
	m.ObserveProbe(web)
	if memo != any(s) {
		t.Fatal("the memo was replaced on the second run")
	}
	web.Success = false
	m.ObserveProbe(web)
	compare(t, m, `
# HELP prober_probe_total Liveness, readiness and startup probe runs of a container, by result.
# TYPE prober_probe_total counter
prober_probe_total{container="app",namespace="default",pod="web",pod_uid="u1",probe_type="Readiness",result="failed"} 1
prober_probe_total{container="app",namespace="default",pod="web",pod_uid="u1",probe_type="Readiness",result="successful"} 2
`, "prober_probe_total")

	m.ForgetPod("u1", "default", "web")
	m.ObserveProbe(web) // a late run of the removed pod's probe
	if n := testutil.CollectAndCount(m.probes); n != 0 {
		t.Errorf("%d probe series after ForgetPod and a late run, want 0", n)
	}

	other := New()
	web.Success = true
	other.ObserveProbe(web)
	if got := testutil.ToFloat64(other.probes.WithLabelValues("Readiness", ProbeSuccessful, "app", "web", "default", "u1")); got != 1 {
		t.Errorf("another Metrics counted %v successful runs through a memo it did not fill, want 1", got)
	}
}
