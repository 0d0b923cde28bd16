package probes

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// An HTTP probe's timeout, passed down as a deadline, reads as
// http.Client's at each stage: the connect, the response head and the
// body. Cancelling the probe's context ends a probe that waits, long
// before its timeout.
func TestHTTPProbeTimeoutsAndCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("/slow-head", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("part"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := serverPort(t, srv.URL)
	hole := blackholePort(t)
	url := func(port int, path string) string {
		return "Get \"http://127.0.0.1:" + strconv.Itoa(port) + path + "\": "
	}

	target := &Target{PodIP: "127.0.0.1", Container: &v1.Container{Name: "web"}}
	probe := func(ctx context.Context, port int, path string, timeout int32) (outcome, string, time.Duration, error) {
		p := httpProbe(intstr.FromInt32(int32(port)), path)
		p.TimeoutSeconds = timeout
		start := time.Now()
		out, msg, err := (&handlers{}).probe(ctx, Readiness, target, p)
		return out, msg, time.Since(start), err
	}

	for _, tc := range []struct {
		name, path string
		port       int
		wantOut    outcome
		wantMsg    string
		wantErr    string
	}{
		{name: "connect", port: hole, path: "/", wantOut: outcomeFailure,
			wantMsg: url(hole, "/") + "dial tcp 127.0.0.1:" + strconv.Itoa(hole) + ": i/o timeout (Client.Timeout exceeded while awaiting headers)"},
		{name: "head", port: port, path: "/slow-head", wantOut: outcomeFailure,
			wantMsg: url(port, "/slow-head") + "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"},
		{name: "body", port: port, path: "/slow-body", wantOut: outcomeFailure,
			wantErr: "context deadline exceeded (Client.Timeout or context cancellation while reading body)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, msg, took, err := probe(context.Background(), tc.port, tc.path, 1)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if out != tc.wantOut || msg != tc.wantMsg || gotErr != tc.wantErr {
				t.Errorf("got (%v, %q, %q), want (%v, %q, %q)", out, msg, gotErr, tc.wantOut, tc.wantMsg, tc.wantErr)
			}
			if took < 900*time.Millisecond || took > 1500*time.Millisecond {
				t.Errorf("took %v with a 1 s timeout", took)
			}
		})
	}

	for _, tc := range []struct{ name, path string }{{"while connecting", ""}, {"awaiting the head", "/slow-head"}, {"reading the body", "/slow-body"}} {
		t.Run("cancelled "+tc.name, func(t *testing.T) {
			p, path := port, tc.path
			if path == "" {
				p, path = hole, "/"
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			_, _, took, _ := probe(ctx, p, path, 30)
			if took < 100*time.Millisecond || took > time.Second {
				t.Errorf("a cancelled probe with a 30 s timeout took %v", took)
			}
		})
	}
}
