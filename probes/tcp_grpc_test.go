package probes

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := l.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name    string
		port    intstr.IntOrString
		host    string
		want    outcome
		wantMsg string
	}{
		{"listening", intstr.FromInt32(int32(open)), "", outcomeSuccess, ""},
		{"named port", intstr.FromString("db"), "", outcomeSuccess, ""},
		{"explicit host", intstr.FromInt32(int32(open)), "127.0.0.1", outcomeSuccess, ""},
		{"closed port", intstr.FromInt32(int32(closedPort(t))), "", outcomeFailure, "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1.Probe{TimeoutSeconds: 1, ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: tc.port, Host: tc.host}}}
			target := &Target{Container: &v1.Container{Ports: []v1.ContainerPort{{Name: "db", ContainerPort: int32(open)}}}}
			out, msg, err := (&handlers{}).probe(context.Background(), Liveness, target, p)
			if err != nil || out != tc.want || !strings.Contains(msg, tc.wantMsg) {
				t.Fatalf("got (%v, %q, %v), want (%v, ...%q...)", out, msg, err, tc.want, tc.wantMsg)
			}
		})
	}
}

func TestTCPProbeTimeout(t *testing.T) {
	port := blackholePort(t)
	start := time.Now()
	out, msg, err := probeTCP(context.Background(), "", "127.0.0.1", port, 300*time.Millisecond)
	want := "dial tcp 127.0.0.1:" + strconv.Itoa(port) + ": i/o timeout"
	if err != nil || out != outcomeFailure || msg != want {
		t.Fatalf("got (%v, %q, %v), want (failure, %q, nil)", out, msg, err, want)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > time.Second {
		t.Fatalf("took %v with a 300ms timeout", d)
	}
	// Cancelling the probe's context ends the connect long before its
	// timeout.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if out, _, _ := probeTCP(ctx, "", "127.0.0.1", port, 30*time.Second); out == outcomeSuccess {
		t.Fatal("a cancelled connect succeeded")
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > time.Second {
		t.Fatalf("a connect cancelled after 100ms took %v (timeout 30s)", d)
	}
}

// blackholePort returns a loopback port whose listener never accepts and
// whose accept queue is full, so that new SYNs are dropped and connects hang.
func blackholePort(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for range 4 { // fill the accept queue; later connects time out
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return port
}

func TestGRPCProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(l)
	defer srv.Stop()
	port := int32(l.Addr().(*net.TCPAddr).Port)

	bare := grpc.NewServer() // no health service
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go bare.Serve(l2)
	defer bare.Stop()

	tests := []struct {
		name    string
		port    int32
		service *string
		want    outcome
		wantMsg string
	}{
		{"serving", port, nil, outcomeSuccess, "service healthy"},
		{"not serving", port, ptr.To("db"), outcomeFailure, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", port, ptr.To("nope"), outcomeFailure, "error: health rpc probe failed"},
		{"no health service", int32(l2.Addr().(*net.TCPAddr).Port), nil, outcomeFailure, "error: this server does not implement the grpc health protocol"},
		{"nothing listening", int32(closedPort(t)), nil, outcomeFailure, "timeout: failed to connect service"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &v1.Probe{TimeoutSeconds: 1, ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: tc.port, Service: tc.service}}}
			start := time.Now()
			out, msg, err := (&handlers{}).probe(context.Background(), Readiness, &Target{PodIP: "127.0.0.1"}, p)
			if err != nil || out != tc.want || !strings.HasPrefix(msg, tc.wantMsg) {
				t.Fatalf("got (%v, %q, %v), want (%v, %q...)", out, msg, err, tc.want, tc.wantMsg)
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Fatalf("took %v with a 1s timeout", d)
			}
		})
	}
}

// TestGRPCRetryAtTheDeadline: when the reconnect back-off ends just as the
// probe's deadline does, the result keeps the last real connection error
// (connection refused), as grpc-go's does, not the cut-short retry's
// timeout. Not parallel: it replaces backoffFor.
func TestGRPCRetryAtTheDeadline(t *testing.T) {
	port := closedPort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	defer func(f func(int) time.Duration) { backoffFor = f }(backoffFor)
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		dl, _ := ctx.Deadline()
		backoffFor = func(int) time.Duration { return time.Until(dl) }
		_, dialErr, err := callWhenReady(ctx, "", addr, "/grpc.health.v1.Health/Check", nil)
		cancel()
		if dialErr == nil || !strings.Contains(dialErr.Error(), "connection refused") {
			t.Fatalf("run %d: dial error %v, want connection refused", i, dialErr)
		}
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("run %d: error %v, want DeadlineExceeded", i, err)
		}
	}
}
