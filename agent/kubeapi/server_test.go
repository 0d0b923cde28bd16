package kubeapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/agent/api/apitest"
)

const testToken = "secret-token"

var testNow = time.Date(2024, 1, 2, 3, 14, 5, 0, time.UTC)

// newTestServer serves a fake backend over TLS and returns a typed client
// for it.
func newTestServer(t *testing.T) (*apitest.Backend, *httptest.Server, kubernetes.Interface) {
	t.Helper()
	b := apitest.New()
	s, err := New(Options{Backend: b, Token: testToken, Clock: clocktesting.NewFakePassiveClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(srv.Close)
	c, err := kubernetes.NewForConfig(restConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	return b, srv, c
}

func restConfig(srv *httptest.Server) *rest.Config {
	// JSON as kubectl sends it (the typed clients default to protobuf,
	// which is not served).
	return &rest.Config{Host: srv.URL, BearerToken: testToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		ContentConfig: rest.ContentConfig{ContentType: "application/json"}}
}

// do sends one request with the token and returns the response.
func do(t *testing.T, srv *httptest.Server, method, path, accept string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func testPod(name string, labels map[string]string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: labels, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(testNow.Add(-10 * time.Minute))},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func TestNewNeedsToken(t *testing.T) {
	if _, err := New(Options{Backend: apitest.New()}); err == nil {
		t.Fatal("New without a token: no error")
	}
}

func TestUnauthorized(t *testing.T) {
	_, srv, _ := newTestServer(t)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, testToken} {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/pods", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		decode(t, resp, &st)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || st.Reason != metav1.StatusReasonUnauthorized {
			t.Errorf("Authorization %q: %d %+v, want 401 Unauthorized", auth, resp.StatusCode, st)
		}
	}
}

func TestUnknownPathIsStatusNotFound(t *testing.T) {
	_, srv, _ := newTestServer(t)
	resp := do(t, srv, "GET", "/apis/apps/v1/deployments", "")
	var st metav1.Status
	decode(t, resp, &st)
	if resp.StatusCode != 404 || st.Reason != metav1.StatusReasonNotFound {
		t.Fatalf("got %d %+v, want a 404 NotFound Status", resp.StatusCode, st)
	}
}

// watchReader reads the lines of one watch response.
type watchReader struct {
	lines chan watchEvent
}

func newWatchReader(resp *http.Response) *watchReader {
	w := &watchReader{lines: make(chan watchEvent, 100)}
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev watchEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				return
			}
			w.lines <- ev
		}
	}()
	return w
}

// next reads n events, failing after 5 s.
func (w *watchReader) next(t *testing.T, n int) []watchEvent {
	t.Helper()
	var out []watchEvent
	timeout := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-w.lines:
			if !ok {
				t.Fatalf("watch ended after %d of %d events: %+v", len(out), n, out)
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("got %d of %d watch events: %+v", len(out), n, out)
		}
	}
	return out
}

type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e watchEvent) meta(t *testing.T) metav1.PartialObjectMetadata {
	t.Helper()
	var m metav1.PartialObjectMetadata
	if err := json.Unmarshal(e.Object, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

func decodeRaw(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}
