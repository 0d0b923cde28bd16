package probes

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// grpcGoCheck is the reference: the health call through a grpc-go client,
// as the kubelet makes it (a new connection, WaitForReady, one deadline),
// with the last dial error.
func grpcGoCheck(ctx context.Context, addr, service string) (*healthpb.HealthCheckResponse, error, error) {
	var (
		mu      sync.Mutex
		dialErr error
	)
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(userAgent),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			c, err := dial(ctx, "", "tcp", a)
			mu.Lock()
			dialErr = err
			mu.Unlock()
			return c, err
		}))
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.WaitForReady(true))
	mu.Lock()
	defer mu.Unlock()
	return resp, dialErr, err
}

type slowHealth struct {
	healthpb.UnimplementedHealthServer
}

func (slowHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	<-ctx.Done()
	return nil, status.Error(codes.Internal, "too late")
}

type deniedHealth struct {
	healthpb.UnimplementedHealthServer
}

func (deniedHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return nil, status.Error(codes.PermissionDenied, "nope: 100% ünïcode\nand a second line")
}

// TestGRPCCallMatchesGRPCGo: for servers that answer, refuse, hang, time
// out, are not gRPC or not even HTTP/2, the hand-written call ends as a
// grpc-go client's does: same gRPC code and message (but for the text of
// a DeadlineExceeded), same dial error, same reply.
func TestGRPCCallMatchesGRPCGo(t *testing.T) {
	listen := func(serve func(net.Listener)) int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go serve(l)
		return int(port(l))
	}
	grpcServer := func(register func(*grpc.Server)) int {
		s := grpc.NewServer()
		register(s)
		t.Cleanup(s.Stop)
		return listen(func(l net.Listener) { s.Serve(l) })
	}
	hs := health.NewServer()
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
	serving := grpcServer(func(s *grpc.Server) { healthpb.RegisterHealthServer(s, hs) })
	servers := []struct {
		name, service string
		port          int
	}{
		{"serving", "", serving},
		{"not serving", "db", serving},
		{"unknown service", "nosuch", serving},
		{"no health service", "", grpcServer(func(*grpc.Server) {})},
		{"handler error", "", grpcServer(func(s *grpc.Server) { healthpb.RegisterHealthServer(s, deniedHealth{}) })},
		{"handler past the deadline", "", grpcServer(func(s *grpc.Server) { healthpb.RegisterHealthServer(s, slowHealth{}) })},
		{"HTTP/1 server", "", listen(func(l net.Listener) { http.Serve(l, http.NotFoundHandler()) })},
		{"closes at once", "", listen(acceptAndClose)},
		{"accepts, never answers", "", listen(func(l net.Listener) {
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		})},
		{"refused", "", closedPort(t)},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			want, wantDialErr, wantErr := grpcGoCheck(ctx, addr, s.service)

			ctx, cancel = context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			req, _ := proto.Marshal(&healthpb.HealthCheckRequest{Service: s.service})
			reply, dialErr, err := callWhenReady(ctx, "", addr, "/grpc.health.v1.Health/Check", req)

			// A DeadlineExceeded's text never shows: the probe says "timeout: ...".
			if status.Code(err) != status.Code(wantErr) ||
				status.Code(err) != codes.DeadlineExceeded && status.Convert(err).Message() != status.Convert(wantErr).Message() {
				t.Fatalf("error %v, grpc-go: %v", err, wantErr)
			}
			if errString(dialErr) != errString(wantDialErr) {
				t.Fatalf("dial error %v, grpc-go: %v", dialErr, wantDialErr)
			}
			if err == nil {
				var got healthpb.HealthCheckResponse
				if err := proto.Unmarshal(reply, &got); err != nil || got.GetStatus() != want.GetStatus() {
					t.Fatalf("reply %v (%v), grpc-go: %v", got.GetStatus(), err, want.GetStatus())
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil || errors.Is(err, context.Canceled) {
		return ""
	}
	return err.Error()
}
