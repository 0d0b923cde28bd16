package kubeletserver

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"

	"github.com/miniagent/miniagent/agent/api"
)

// adminServer is a test server whose client certificate user may do
// everything.
func adminServer(t *testing.T) (*testServer, *http.Client) {
	t.Helper()
	ts := startServer(t, nil)
	ts.rv.allow = func(authorizationv1.SubjectAccessReviewSpec) bool { return true }
	c, k := ts.ca.client(t, "admin")
	return ts, ts.httpClient(t, c, k)
}

func testPod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "uid-1"},
		Spec:       v1.PodSpec{InitContainers: []v1.Container{{Name: "init"}}, Containers: []v1.Container{{Name: "app"}, {Name: "side"}}},
	}
}

func TestPodsAndHealthz(t *testing.T) {
	ts, c := adminServer(t)
	if code, body := get(t, c, "GET", ts.srv.URL+"/healthz", ""); code != 200 || body != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	code, body := get(t, c, "GET", ts.srv.URL+"/pods", "")
	var list v1.PodList
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || list.Kind != "PodList" || list.APIVersion != "v1" || len(list.Items) != 0 {
		t.Errorf("/pods with none: %d %q %v", code, body, err)
	}
	ts.b.SetPod(testPod())
	_, body = get(t, c, "GET", ts.srv.URL+"/pods", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Items) != 1 || list.Items[0].Name != "web" || list.Items[0].UID != "uid-1" {
		t.Errorf("/pods: %q %v", body, err)
	}
	if code, _ := get(t, c, "POST", ts.srv.URL+"/pods", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /pods: %d, want 405", code)
	}
	if code, _ := get(t, c, "GET", ts.srv.URL+"/nothing", ""); code != http.StatusNotFound {
		t.Errorf("/nothing: %d, want 404", code)
	}
	if code, body := get(t, c, "GET", ts.srv.URL+"/metrics", ""); code != 200 || !strings.Contains(body, "kubelet_running_pods") {
		t.Errorf("/metrics: %d %q", code, body)
	}
}

func TestLogOptions(t *testing.T) {
	since := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	for _, tc := range []struct {
		q    string
		want api.LogOptions
		code int
		msg  string
	}{
		{q: "", want: api.LogOptions{Container: "c"}},
		{q: "follow=true&previous=1&timestamps=true", want: api.LogOptions{Container: "c", Follow: true, Previous: true, Timestamps: true}},
		{q: "tailLines=5&limitBytes=100&sinceSeconds=30", want: api.LogOptions{Container: "c", TailLines: ptr.To[int64](5), LimitBytes: ptr.To[int64](100), SinceSeconds: ptr.To[int64](30)}},
		{q: "tailLines=0", want: api.LogOptions{Container: "c", TailLines: ptr.To[int64](0)}},
		{q: "tail=7", want: api.LogOptions{Container: "c", TailLines: ptr.To[int64](7)}},
		{q: "tail=all&tailLines=3", want: api.LogOptions{Container: "c"}},
		{q: "sinceTime=2026-01-02T03:04:05Z", want: api.LogOptions{Container: "c", SinceTime: &since}},
		{q: "follow=yes", code: 400, msg: `follow="yes"`},
		{q: "tailLines=x", code: 400, msg: `tailLines="x"`},
		{q: "tailLines=-1", code: 422, msg: "tailLines=-1"},
		{q: "sinceSeconds=0", code: 422, msg: "sinceSeconds=0"},
		{q: "limitBytes=0", code: 422, msg: "limitBytes=0"},
		{q: "sinceTime=yesterday", code: 400, msg: "sinceTime"},
		{q: "sinceSeconds=5&sinceTime=2026-01-02T03:04:05Z", code: 422, msg: "at most one"},
	} {
		q, _ := url.ParseQuery(tc.q)
		got, err := LogOptions(q, "c")
		if tc.code != 0 {
			re, ok := err.(*requestError)
			if !ok || re.code != tc.code || !strings.Contains(re.msg, tc.msg) {
				t.Errorf("%q: error %v, want %d containing %q", tc.q, err, tc.code, tc.msg)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v %v, want %+v", tc.q, got, err, tc.want)
		}
	}
}

func TestContainerLogs(t *testing.T) {
	ts, c := adminServer(t)
	ts.b.SetPod(testPod())
	ts.b.SetLog("ns1", "web", "app", "one\ntwo\nthree\n")
	base := ts.srv.URL + "/containerLogs/ns1/web/"
	if code, body := get(t, c, "GET", base+"app?tailLines=2&timestamps=true&limitBytes=10", ""); code != 200 || body != "two\nthree\n" {
		t.Errorf("logs: %d %q", code, body)
	}
	want := api.LogOptions{Container: "app", Timestamps: true, TailLines: ptr.To[int64](2), LimitBytes: ptr.To[int64](10)}
	if got := ts.b.LastLogOptions(); !reflect.DeepEqual(got, want) {
		t.Errorf("backend got %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/containerLogs/ns1/nope/app", 404, `pod "nope" does not exist`},
		{"/containerLogs/ns2/web/app", 404, `pod "web" does not exist`},
		{"/containerLogs/ns1/web/other", 404, `container "other" not found in pod "web"`},
		{"/containerLogs/ns1/web/side", 400, "side"}, // the backend's error: no log stored
		{"/containerLogs/ns1/web/app?sinceSeconds=-3", 422, "sinceSeconds"},
		{"/containerLogs/ns1/web", 404, ""},
	} {
		code, body := get(t, c, "GET", ts.srv.URL+tc.path, "")
		if code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %q, want %d with %q", tc.path, code, body, tc.code, tc.msg)
		}
	}
}

func testSummary(at time.Time) *api.Summary {
	t := metav1.NewTime(at)
	return &api.Summary{
		Node: api.NodeStats{NodeName: "node1", CPU: &api.CPUStats{Time: t, UsageNanoCores: 500, UsageCoreNanoSeconds: 3e9}, Memory: &api.MemoryStats{Time: t, UsageBytes: 2000, WorkingSetBytes: 1000}},
		Pods: []api.PodStats{{PodRef: api.PodReference{Name: "web", Namespace: "ns1", UID: "uid-1"}, Containers: []api.ContainerStats{
			{Name: "app", CPU: &api.CPUStats{Time: t, UsageNanoCores: 100, UsageCoreNanoSeconds: 1.5e9}, Memory: &api.MemoryStats{Time: t, UsageBytes: 300, WorkingSetBytes: 200}},
			{Name: "side", CPU: &api.CPUStats{Time: t, UsageNanoCores: 50, UsageCoreNanoSeconds: 0.5e9}},
		}}},
	}
}

func TestSummaryConversion(t *testing.T) {
	at := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	started := metav1.NewTime(at.Add(-time.Hour))
	pod := testPod()
	pod.Status.StartTime = &started
	pod.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "app", State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: started}}},
		{Name: "side", State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{}}}}
	boot := at.Add(-24 * time.Hour)
	s := Summary(testSummary(at), []v1.Pod{*pod}, boot)
	if s.Node.NodeName != "node1" || !s.Node.StartTime.Time.Equal(boot) || *s.Node.CPU.UsageNanoCores != 500 || *s.Node.Memory.WorkingSetBytes != 1000 {
		t.Errorf("node = %+v", s.Node)
	}
	if len(s.Pods) != 1 {
		t.Fatalf("pods = %+v", s.Pods)
	}
	p := s.Pods[0]
	if p.PodRef != (statsv1alpha1.PodReference{Name: "web", Namespace: "ns1", UID: "uid-1"}) || !p.StartTime.Equal(&started) {
		t.Errorf("pod ref/start = %+v %v", p.PodRef, p.StartTime)
	}
	if *p.CPU.UsageNanoCores != 150 || *p.CPU.UsageCoreNanoSeconds != 2e9 || *p.Memory.WorkingSetBytes != 200 || *p.Memory.UsageBytes != 300 {
		t.Errorf("pod sums cpu %+v memory %+v", p.CPU, p.Memory)
	}
	if len(p.Containers) != 2 || !p.Containers[0].StartTime.Equal(&started) || !p.Containers[1].StartTime.IsZero() || p.Containers[1].Memory != nil {
		t.Errorf("containers = %+v", p.Containers)
	}
	// A pod without readings has no pod-level CPU or memory.
	empty := Summary(&api.Summary{Pods: []api.PodStats{{PodRef: api.PodReference{UID: "x"}}}}, nil, boot)
	if empty.Pods[0].CPU != nil || empty.Pods[0].Memory != nil || empty.Pods[0].Containers == nil {
		t.Errorf("empty pod = %+v", empty.Pods[0])
	}
}

func TestStatsEndpoints(t *testing.T) {
	ts, c := adminServer(t)
	if code, body := get(t, c, "GET", ts.srv.URL+"/stats/summary", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/stats/summary without stats: %d %q, want 503", code, body)
	}
	if code, body := get(t, c, "GET", ts.srv.URL+"/metrics/resource", ""); code != 200 || !strings.Contains(body, "resource_scrape_error 1") || strings.Contains(body, "node_cpu") {
		t.Errorf("/metrics/resource without stats: %d %q", code, body)
	}
	at := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	started := metav1.NewTime(at.Add(-time.Hour))
	pod := testPod()
	pod.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "app", State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: started}}}}
	ts.b.SetPod(pod)
	ts.b.Summary = testSummary(at)
	code, body := get(t, c, "GET", ts.srv.URL+"/stats/summary", "")
	var sum statsv1alpha1.Summary
	if err := json.Unmarshal([]byte(body), &sum); code != 200 || err != nil || sum.Node.NodeName != "node1" || len(sum.Pods) != 1 || len(sum.Pods[0].Containers) != 2 {
		t.Errorf("/stats/summary: %d %q %v", code, body, err)
	}
	_, body = get(t, c, "GET", ts.srv.URL+"/metrics/resource", "")
	ms := at.UnixMilli()
	for _, want := range []string{
		"resource_scrape_error 0",
		"node_cpu_usage_seconds_total 3 " + itoa(ms),
		"node_memory_working_set_bytes 1000 " + itoa(ms),
		`container_cpu_usage_seconds_total{container="app",namespace="ns1",pod="web"} 1.5 ` + itoa(ms),
		`container_cpu_usage_seconds_total{container="side",namespace="ns1",pod="web"} 0.5 ` + itoa(ms),
		`container_memory_working_set_bytes{container="app",namespace="ns1",pod="web"} 200 ` + itoa(ms),
		`container_start_time_seconds{container="app",namespace="ns1",pod="web"} 1.7961768e+09`,
		`pod_cpu_usage_seconds_total{namespace="ns1",pod="web"} 2 ` + itoa(ms),
		`pod_memory_working_set_bytes{namespace="ns1",pod="web"} 200 ` + itoa(ms),
		"# TYPE node_cpu_usage_seconds_total counter",
		"# TYPE container_memory_working_set_bytes gauge",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics/resource lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `container_memory_working_set_bytes{container="side"`) || strings.Contains(body, `container_start_time_seconds{container="side"`) {
		t.Errorf("/metrics/resource has series for what was not read:\n%s", body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ts := startServer(t, func(o *Options) { o.Address, o.Port = net.ParseIP("127.0.0.1"), int32(port) })
	ts.rv.allow = func(authorizationv1.SubjectAccessReviewSpec) bool { return true }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.s.Run(ctx) }()
	c, k := ts.ca.client(t, "admin")
	client := ts.httpClient(t, c, k)
	url := "https://" + ts.s.Addr() + "/healthz"
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("healthz on the real listener: %s", resp.Status)
			}
			if resp.TLS == nil || resp.TLS.NegotiatedProtocol == "h2" {
				t.Errorf("TLS state %+v, want HTTP/1.1 over TLS", resp.TLS)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not answering: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A second server on the same port fails with the flag named.
	if err := ts.s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--port") {
		t.Errorf("second Run on the same port: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
