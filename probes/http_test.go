package probes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func serverPort(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(u.Port())
	return p
}

func httpProbe(port intstr.IntOrString, path string, headers ...v1.HTTPHeader) *v1.Probe {
	return &v1.Probe{TimeoutSeconds: 1, ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{
		Port: port, Path: path, HTTPHeaders: headers}}}
}

func TestHTTPProbe(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	other.Listener = l
	other.Start()
	defer other.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "all good") })
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(code)
		fmt.Fprint(w, "secret body")
	})
	mux.HandleFunc("/local-redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/remote-redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/elsewhere", http.StatusFound)
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("x") != "1" {
			w.WriteHeader(http.StatusTeapot)
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := serverPort(t, srv.URL)

	tests := []struct {
		name    string
		probe   *v1.Probe
		want    outcome
		wantMsg string // prefix
		wantErr bool
	}{
		{"200", httpProbe(intstr.FromInt32(int32(port)), "/ok"), outcomeSuccess, "all good", false},
		{"399 is success", httpProbe(intstr.FromInt32(int32(port)), "/status/204"), outcomeSuccess, "", false},
		{"500", httpProbe(intstr.FromInt32(int32(port)), "/status/500"), outcomeFailure, "HTTP probe failed with statuscode: 500", false},
		{"404", httpProbe(intstr.FromInt32(int32(port)), "/status/404"), outcomeFailure, "HTTP probe failed with statuscode: 404", false},
		{"same-host redirect followed", httpProbe(intstr.FromInt32(int32(port)), "/local-redirect"), outcomeSuccess, "all good", false},
		{"other-host redirect is a warning", httpProbe(intstr.FromInt32(int32(port)), "/remote-redirect"), outcomeWarning, "Probe terminated redirects, Response body: ", false},
		{"named port", httpProbe(intstr.FromString("web"), "/ok"), outcomeSuccess, "all good", false},
		{"numeric string port", httpProbe(intstr.FromString(strconv.Itoa(port)), "/ok"), outcomeSuccess, "all good", false},
		{"unknown named port", httpProbe(intstr.FromString("nope"), "/ok"), 0, "", true},
		{"path with query", httpProbe(intstr.FromInt32(int32(port)), "/query?x=1"), outcomeSuccess, "", false},
		{"timeout", httpProbe(intstr.FromInt32(int32(port)), "/slow"), outcomeFailure, "Get \"http://127.0.0.1:", false},
		{"refused", httpProbe(intstr.FromInt32(int32(closedPort(t))), "/"), outcomeFailure, "Get \"http://127.0.0.1:", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &handlers{}
			target := &Target{PodIP: "127.0.0.1", Container: &v1.Container{Name: "web",
				Ports: []v1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}}
			start := time.Now()
			out, msg, err := h.probe(context.Background(), Readiness, target, tc.probe)
			if (err != nil) != tc.wantErr || out != tc.want || !strings.HasPrefix(msg, tc.wantMsg) {
				t.Fatalf("got (%v, %q, %v), want (%v, %q..., err=%v)", out, msg, err, tc.want, tc.wantMsg, tc.wantErr)
			}
			if strings.Contains(msg, "secret body") {
				t.Fatalf("failure message shows the response body: %q", msg)
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Fatalf("probe took %v with a 1s timeout", d)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("redirect to another host was followed %d times", n)
	}
}

func TestHTTPHeadersAndConnections(t *testing.T) {
	var got atomic.Pointer[http.Request]
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Store(r) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	port := intstr.FromInt32(int32(serverPort(t, srv.URL)))
	h := &handlers{}
	target := &Target{Container: &v1.Container{}} // no PodIP: 127.0.0.1

	tests := []struct {
		name    string
		headers []v1.HTTPHeader
		check   func(r *http.Request) string
	}{
		{"defaults", nil, func(r *http.Request) string {
			if r.UserAgent() != "kube-probe/1.33" || r.Header.Get("Accept") != "*/*" || !r.Close {
				return fmt.Sprintf("UA %q Accept %q Close %v", r.UserAgent(), r.Header.Get("Accept"), r.Close)
			}
			return ""
		}},
		{"custom headers win", []v1.HTTPHeader{{Name: "User-Agent", Value: "mine"}, {Name: "Accept", Value: "text/plain"}, {Name: "X-Custom", Value: "a"}, {Name: "X-Custom", Value: "b"}},
			func(r *http.Request) string {
				if r.UserAgent() != "mine" || r.Header.Get("Accept") != "text/plain" || strings.Join(r.Header.Values("X-Custom"), ",") != "a,b" {
					return fmt.Sprintf("headers %v", r.Header)
				}
				return ""
			}},
		{"empty Accept removes it", []v1.HTTPHeader{{Name: "Accept", Value: ""}}, func(r *http.Request) string {
			if _, ok := r.Header["Accept"]; ok {
				return fmt.Sprintf("Accept sent: %v", r.Header)
			}
			return ""
		}},
		{"Host header", []v1.HTTPHeader{{Name: "Host", Value: "example.test"}}, func(r *http.Request) string {
			if r.Host != "example.test" {
				return "Host = " + r.Host
			}
			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, msg, err := h.probe(context.Background(), Liveness, target, httpProbe(port, "/h", tc.headers...))
			if err != nil || out != outcomeSuccess {
				t.Fatalf("probe: %v %q %v", out, msg, err)
			}
			if problem := tc.check(got.Load()); problem != "" {
				t.Fatal(problem)
			}
		})
	}
	if n := conns.Load(); n != int32(len(tests)) {
		t.Fatalf("%d connections for %d probes: connections were reused", n, len(tests))
	}
}

func TestHTTPSProbe(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "tls ok") }))
	defer srv.Close()
	p := httpProbe(intstr.FromInt32(int32(serverPort(t, srv.URL))), "/")
	p.HTTPGet.Scheme = v1.URISchemeHTTPS
	out, msg, err := (&handlers{}).probe(context.Background(), Liveness, &Target{PodIP: "127.0.0.1", Container: &v1.Container{}}, p)
	if err != nil || out != outcomeSuccess || msg != "tls ok" {
		t.Fatalf("got (%v, %q, %v)", out, msg, err)
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

// errAfter reads data, then fails with err.
type errAfter struct {
	data []byte
	err  error
}

func (r *errAfter) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// readBody must give what io.ReadAll of an io.LimitReader(maxOutput) gives.
func TestReadBodyIsReadAllOfLimit(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"empty", func() io.Reader { return strings.NewReader("") }},
		{"short", func() io.Reader { return strings.NewReader("ok") }},
		{"exactly the limit", func() io.Reader { return strings.NewReader(strings.Repeat("a", maxOutput)) }},
		{"past the limit", func() io.Reader { return strings.NewReader(strings.Repeat("b", 3*maxOutput+7)) }},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(strings.NewReader("slow body")) }},
		{"error after data", func() io.Reader { return &errAfter{data: []byte("part"), err: boom} }},
		{"error at once", func() io.Reader { return &errAfter{err: boom} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := io.ReadAll(io.LimitReader(tc.r(), maxOutput))
			for range 2 { // the second run gets a used pooled buffer
				got, err := readBody(tc.r())
				if !bytes.Equal(got, want) || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
					t.Fatalf("readBody = %d bytes, %v; ReadAll = %d bytes, %v", len(got), err, len(want), wantErr)
				}
				// What it returned is its own: the pooled buffer's next use
				// must not change it.
				if _, err := readBody(strings.NewReader(strings.Repeat("z", maxOutput))); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatal("a later readBody changed an earlier body")
				}
			}
		})
	}
}
