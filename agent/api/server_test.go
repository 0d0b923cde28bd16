package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/api/apitest"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// start serves b on a fresh socket and returns the socket path.
func start(t *testing.T, b api.Backend) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "run", "miniagent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.NewServer(b, slog.New(slog.DiscardHandler)).Serve(ctx, sock) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("server did not start on %s", sock)
	return ""
}

func raw(t *testing.T, sock, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

func status(t *testing.T, data []byte) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(data, &st); err != nil || st.Kind != "Status" {
		t.Fatalf("body is not a Status: %s", data)
	}
	return st
}

func pod(ns, name string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func TestServeSocketLifecycle(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sub", "a.sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sock, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.NewServer(apitest.New(), nil).Serve(ctx, sock) }()
	var fi os.FileInfo
	for i := 0; i < 200; i++ {
		if st, err := os.Stat(sock); err == nil && st.Mode()&os.ModeSocket != 0 {
			fi = st
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if fi == nil {
		t.Fatal("socket never replaced the stale file")
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode = %o, want 600", perm)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after shutdown: %v", err)
	}
}

func TestApplyCreatedConfiguredUnchanged(t *testing.T) {
	b := apitest.New()
	c := api.NewClient(start(t, b))
	ctx := context.Background()
	p := pod("", "web")
	for i, want := range []string{api.ApplyCreated, api.ApplyUnchanged, api.ApplyConfigured} {
		if i == 2 {
			p.Spec.Containers[0].Image = "busybox:2"
		}
		stored, result, err := c.Apply(ctx, p)
		if err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		if result != want {
			t.Errorf("apply %d: result %q, want %q", i, result, want)
		}
		if stored.Namespace != "default" || stored.Kind != "Pod" || stored.APIVersion != "v1" {
			t.Errorf("apply %d: stored %s/%s kind %q/%q", i, stored.Namespace, stored.Name, stored.APIVersion, stored.Kind)
		}
	}
	if got := len(b.Applied()); got != 3 {
		t.Errorf("backend saw %d applies, want 3", got)
	}
	code, _, _ := raw(t, c.SocketPath(), "POST", "/api/v1/namespaces/default/pods", `{"metadata":{"name":"x2"},"spec":{"containers":[{"name":"c","image":"i"}]}}`)
	if code != http.StatusCreated {
		t.Errorf("POST new pod: code %d, want 201", code)
	}
}

func TestErrorsPassThrough(t *testing.T) {
	b := apitest.New()
	b.Validate = func(p *v1.Pod) error {
		if p.Spec.Containers[0].Image == "" {
			return apierrors.NewInvalid(v1.SchemeGroupVersion.WithKind("Pod").GroupKind(), p.Name, field.ErrorList{
				field.Required(field.NewPath("spec", "containers").Index(0).Child("image"), ""),
			})
		}
		if p.Name == "boom" {
			return errors.New("disk on fire")
		}
		return nil
	}
	sock := start(t, b)
	c := api.NewClient(sock)
	ctx := context.Background()

	_, err := c.GetPod(ctx, "default", "nope")
	if !apierrors.IsNotFound(err) || err.Error() != `pods "nope" not found` {
		t.Errorf("GetPod missing: %v", err)
	}
	code, _, body := raw(t, sock, "GET", "/api/v1/namespaces/default/pods/nope", "")
	if st := status(t, body); code != 404 || st.Reason != metav1.StatusReasonNotFound || st.Code != 404 {
		t.Errorf("raw GET missing: %d %+v", code, st)
	}

	bad := pod("default", "inv")
	bad.Spec.Containers[0].Image = ""
	_, _, err = c.Apply(ctx, bad)
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Code != 422 || !apierrors.IsInvalid(err) {
		t.Fatalf("invalid apply: %v", err)
	}
	if d := se.ErrStatus.Details; d == nil || d.Kind != "Pod" || len(d.Causes) != 1 || d.Causes[0].Field != "spec.containers[0].image" {
		t.Errorf("invalid details lost: %+v", se.ErrStatus.Details)
	}

	code, _, body = raw(t, sock, "POST", "/api/v1/namespaces/default/pods", `{"metadata":{"name":"boom"},"spec":{"containers":[{"name":"c","image":"i"}]}}`)
	if st := status(t, body); code != 500 || st.Reason != metav1.StatusReasonInternalError || !strings.Contains(st.Message, "disk on fire") {
		t.Errorf("plain error: %d %+v", code, st)
	}
}

func TestBadRequests(t *testing.T) {
	b := apitest.New()
	sock := start(t, b)
	for _, tc := range []struct {
		name, method, path, body, want string
	}{
		{"unknown field", "POST", "/api/v1/namespaces/default/pods", `{"metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"i","imagePullPolice":"x"}]}}`, `unknown field "spec.containers[0].imagePullPolice"`},
		{"duplicate field", "POST", "/api/v1/namespaces/default/pods", `{"metadata":{"name":"a","name":"b"}}`, `duplicate field "metadata.name"`},
		{"not json", "POST", "/api/v1/namespaces/default/pods", `{`, "cannot be handled as a Pod"},
		{"wrong kind", "POST", "/api/v1/namespaces/default/pods", `{"kind":"Service","apiVersion":"v1","metadata":{"name":"a"}}`, "want kind Pod"},
		{"namespace mismatch", "POST", "/api/v1/namespaces/default/pods", `{"metadata":{"name":"a","namespace":"other"}}`, "does not match the namespace"},
		{"name mismatch", "PUT", "/api/v1/namespaces/default/pods/b", `{"metadata":{"name":"a"}}`, "does not match the name on the URL (b)"},
		{"bad grace", "DELETE", "/api/v1/namespaces/default/pods/a?gracePeriodSeconds=x", ``, "invalid gracePeriodSeconds"},
		{"bad watch", "GET", "/api/v1/pods?watch=maybe", ``, "invalid value"},
	} {
		code, _, body := raw(t, sock, tc.method, tc.path, tc.body)
		st := status(t, body)
		if code != 400 || st.Reason != metav1.StatusReasonBadRequest || !strings.Contains(st.Message, tc.want) {
			t.Errorf("%s: %d %q, want 400 containing %q", tc.name, code, st.Message, tc.want)
		}
	}
	if n := len(b.Applied()); n != 0 {
		t.Errorf("backend received %d pods from bad requests", n)
	}
	code, _, body := raw(t, sock, "GET", "/api/v1/services", "")
	if code != 404 || status(t, body).Reason != metav1.StatusReasonNotFound {
		t.Errorf("unknown path: %d %s", code, body)
	}
}

func TestGetListDelete(t *testing.T) {
	b := apitest.New()
	sock := start(t, b)
	c := api.NewClient(sock)
	ctx := context.Background()
	b.SetPod(pod("default", "a"))
	b.SetPod(pod("kube-system", "b"))
	lb := pod("default", "c")
	lb.Labels = map[string]string{"app": "x"}
	b.SetPod(lb)

	all, err := c.ListPods(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("list all: %d %v", len(all), err)
	}
	def, err := c.ListPods(ctx, "default")
	if err != nil || len(def) != 2 || def[0].Name != "a" || def[1].Name != "c" {
		t.Fatalf("list default: %+v %v", def, err)
	}
	code, _, body := raw(t, sock, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dx", "")
	var list v1.PodList
	if err := json.Unmarshal(body, &list); err != nil || code != 200 || list.Kind != "PodList" || len(list.Items) != 1 || list.Items[0].Name != "c" || list.Items[0].Kind != "Pod" {
		t.Errorf("label selector list: %d %s", code, body)
	}
	code, _, body = raw(t, sock, "GET", "/api/v1/pods?fieldSelector=metadata.name%3Db", "")
	if err := json.Unmarshal(body, &list); err != nil || code != 200 || len(list.Items) != 1 || list.Items[0].Name != "b" {
		t.Errorf("field selector list: %d %s", code, body)
	}

	code, _, _ = raw(t, sock, "DELETE", "/api/v1/namespaces/default/pods/a?gracePeriodSeconds=5&wait=true", "")
	if code != 200 {
		t.Errorf("raw delete: %d", code)
	}
	grace := int64(0)
	got, err := c.DeletePod(ctx, "kube-system", "b", &grace, false)
	if err != nil || got.Name != "b" {
		t.Fatalf("client delete: %v", err)
	}
	if _, err := c.DeletePod(ctx, "default", "a", nil, true); !apierrors.IsNotFound(err) {
		t.Errorf("second delete: %v", err)
	}
	d := b.Deletes()
	if len(d) != 3 || *d[0].GracePeriod != 5 || !d[0].Wait || *d[1].GracePeriod != 0 || d[1].Wait || d[2].GracePeriod != nil || !d[2].Wait {
		t.Errorf("delete calls: %+v", d)
	}
}

func TestLogsEventsNodes(t *testing.T) {
	b := apitest.New()
	sock := start(t, b)
	c := api.NewClient(sock)
	ctx := context.Background()
	b.SetPod(pod("default", "a"))
	b.SetLog("default", "a", "c", "one\ntwo\nthree\n")
	var buf bytes.Buffer
	tail := int64(2)
	if err := c.PodLogs(ctx, "default", "a", api.LogOptions{Previous: true, Timestamps: true, TailLines: &tail}, &buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "two\nthree\n" {
		t.Errorf("log = %q", buf.String())
	}
	if o := b.LastLogOptions(); !o.Previous || !o.Timestamps || o.Follow || o.TailLines == nil || *o.TailLines != 2 {
		t.Errorf("options reached the backend as %+v", o)
	}
	if err := c.PodLogs(ctx, "default", "a", api.LogOptions{Container: "zz"}, &buf); !apierrors.IsBadRequest(err) {
		t.Errorf("bad container: %v", err)
	}
	if err := c.PodLogs(ctx, "default", "gone", api.LogOptions{}, &buf); !apierrors.IsNotFound(err) {
		t.Errorf("missing pod log: %v", err)
	}

	b.SetEvents("default", "a", []v1.Event{{Reason: "Pulled"}, {Reason: "Started"}})
	evs, err := c.PodEvents(ctx, "default", "a")
	if err != nil || len(evs) != 2 || evs[1].Reason != "Started" {
		t.Errorf("events: %+v %v", evs, err)
	}
	code, _, body := raw(t, sock, "GET", "/api/v1/namespaces/default/events", "")
	var el v1.EventList
	if err := json.Unmarshal(body, &el); err != nil || code != 200 || el.Kind != "EventList" || len(el.Items) != 2 {
		t.Errorf("all events of namespace: %d %s", code, body)
	}

	n, err := c.Node(ctx)
	if err != nil || n.Name != "node1" {
		t.Errorf("Node: %v %v", n, err)
	}
	if n, err := c.GetNode(ctx, "node1"); err != nil || n.Kind != "Node" {
		t.Errorf("GetNode: %v %v", n, err)
	}
	if _, err := c.GetNode(ctx, "other"); !apierrors.IsNotFound(err) || err.Error() != `nodes "other" not found` {
		t.Errorf("GetNode other: %v", err)
	}
}

func TestWatch(t *testing.T) {
	b := apitest.New()
	sock := start(t, b)
	c := api.NewClient(sock)
	b.SetPod(pod("default", "a"))
	b.SetPod(pod("default", "b"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	all, err := c.WatchPods(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	one, err := c.WatchPod(ctx, "default", "b")
	if err != nil {
		t.Fatal(err)
	}
	next := func(ch <-chan api.WatchEvent) string {
		select {
		case ev, ok := <-ch:
			if !ok {
				return "closed"
			}
			return ev.Type + " " + ev.Pod.Name + " " + string(ev.Pod.Status.Phase)
		case <-time.After(3 * time.Second):
			return "timeout"
		}
	}
	for _, want := range []string{"ADDED a ", "ADDED b "} {
		if got := next(all); got != want {
			t.Errorf("all: got %q, want %q", got, want)
		}
	}
	if got := next(one); got != "ADDED b " {
		t.Errorf("one: got %q", got)
	}
	for b.Watchers() < 2 {
		time.Sleep(time.Millisecond)
	}
	pa := pod("default", "a")
	pa.Status.Phase = v1.PodRunning
	b.SetPod(pa)
	b.SetPod(pod("other", "z"))
	pb := pod("default", "b")
	pb.Status.Phase = v1.PodSucceeded
	b.SetPod(pb)
	if _, err := c.DeletePod(ctx, "default", "b", nil, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"MODIFIED a Running", "MODIFIED b Succeeded", "DELETED b Succeeded"} {
		if got := next(all); got != want {
			t.Errorf("all: got %q, want %q", got, want)
		}
	}
	for _, want := range []string{"MODIFIED b Succeeded", "DELETED b Succeeded"} {
		if got := next(one); got != want {
			t.Errorf("one: got %q, want %q", got, want)
		}
	}
	cancel()
	if got := next(all); got != "closed" {
		t.Errorf("after cancel: %q", got)
	}
}

func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	_, err := api.NewClient(sock).GetPod(context.Background(), "default", "a")
	var ue *api.UnreachableError
	if !errors.As(err, &ue) || err.Error() != "cannot reach miniagent at "+sock+": is the daemon running?" {
		t.Errorf("missing socket: %v", err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // leaves nothing listening: connection refused or missing
	if _, err := api.NewClient(sock).ListPods(context.Background(), ""); !errors.As(err, &ue) {
		t.Errorf("dead socket: %v", err)
	}
}
