package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestBindAddress(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		exposed  bool
		err      bool
	}{
		{in: ":10255", want: "127.0.0.1:10255"},
		{in: "localhost:9100", want: "127.0.0.1:9100"},
		{in: "127.0.0.2:9100", want: "127.0.0.2:9100"},
		{in: "[::1]:9100", want: "[::1]:9100"},
		{in: "0.0.0.0:9100", want: "0.0.0.0:9100", exposed: true},
		{in: "[::]:9100", want: "[::]:9100", exposed: true},
		{in: "192.0.2.7:9100", want: "192.0.2.7:9100", exposed: true},
		{in: "node1.example:9100", want: "node1.example:9100", exposed: true},
		{in: "9100", err: true},
		{in: ":metrics", err: true},
		{in: ":70000", err: true},
	} {
		got, exposed, err := BindAddress(tc.in)
		if (err != nil) != tc.err || got != tc.want || exposed != tc.exposed {
			t.Errorf("BindAddress(%q) = %q, %v, %v; want %q, %v, error %v", tc.in, got, exposed, err, tc.want, tc.exposed, tc.err)
		}
	}
}

func TestServeOnLoopback(t *testing.T) {
	m := New()
	m.PodSandboxCreated()
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ln, err := Listen("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln, log) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "kubelet_started_pods_total 1\n") ||
		!strings.Contains(string(body), "go_goroutines ") || !strings.Contains(string(body), "process_start_time_seconds ") {
		t.Errorf("GET /metrics: %d\n%s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warned for a loopback address: %s", logs.String())
	}
}

func TestListenWarnsOffLoopback(t *testing.T) {
	// A documentation address is on no interface here: the warning comes
	// before the listen, which then fails; no socket is opened.
	var logs strings.Builder
	ln, err := Listen("192.0.2.7:0", slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil {
		ln.Close()
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "address=192.0.2.7:0") {
		t.Errorf("no warning for a non-loopback address: %q", logs.String())
	}
}
