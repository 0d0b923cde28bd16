package probes

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// probeGRPC calls grpc.health.v1.Health/Check for service at host:port from
// the pod's network namespace. Only SERVING is success.
//
// It keeps the kubelet's semantics (a new plaintext connection per probe,
// the call waits for the connection to be ready, one timeout for
// connecting and calling) without a grpc.ClientConn, whose set-up cost
// more than ten times the probe itself: the connection is retried with
// grpc-go's backoff until it is up (the server's HTTP/2 SETTINGS arrived)
// or the timeout passes, and the call is a single HTTP/2 stream (see
// h2call.go). Messages are worded as before.
func probeGRPC(ctx context.Context, nsPath, host string, port int, service string, timeout time.Duration) (outcome, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(host, strconv.Itoa(port))

	req, err := proto.Marshal(&healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return 0, "", err
	}
	reply, dialErr, err := callWhenReady(ctx, nsPath, addr, "/grpc.health.v1.Health/Check", req)
	if err != nil {
		code := status.Code(err)
		switch {
		case dialErr != nil && code == codes.DeadlineExceeded:
			return outcomeFailure, fmt.Sprintf("timeout: failed to connect service %q within %v: %+v", addr, timeout, dialErr), nil
		case dialErr != nil:
			return outcomeFailure, fmt.Sprintf("error: failed to connect service at %q: %+v", addr, dialErr), nil
		case code == codes.Unimplemented:
			return outcomeFailure, fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", status.Convert(err).Message()), nil
		case code == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
			return outcomeFailure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
		}
		return outcomeFailure, fmt.Sprintf("error: health rpc probe failed: %+v", err), nil
	}
	var resp healthpb.HealthCheckResponse
	if err := proto.Unmarshal(reply, &resp); err != nil {
		err = status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
		return outcomeFailure, fmt.Sprintf("error: health rpc probe failed: %+v", err), nil
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return outcomeFailure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String()), nil
	}
	return outcomeSuccess, "service healthy", nil
}

// callWhenReady connects to addr, retrying as grpc-go does for a call made
// with WaitForReady until ctx ends, then makes the unary call. dialErr is
// the error of the last connection attempt that failed to dial (nil once
// one dialled); err is a gRPC status error.
func callWhenReady(ctx context.Context, nsPath, addr, method string, req []byte) (reply []byte, dialErr, err error) {
	// ended is the result once the deadline has passed: the last real
	// connection error, as grpc-go reports, and the context's status.
	ended := func() ([]byte, error, error) {
		cut := ctx.Err()
		if cut == nil { // the socket's deadline fired a moment before ctx's
			cut = context.DeadlineExceeded
		}
		return nil, dialErr, status.FromContextError(cut).Err()
	}
	for attempt := 0; ; attempt++ {
		c, err := dial(ctx, nsPath, "tcp", addr)
		if err != nil && dialErr != nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
			return ended() // a retry cut short by the deadline
		}
		dialErr = err
		if err == nil {
			call := newH2Call(c, addr)
			reply, err := call.unary(ctx, method, req)
			c.Close()
			if !errors.Is(err, errNotReady) {
				return reply, nil, err
			}
		}
		// Not ready: wait like grpc-go's reconnect backoff (1 s, ×1.6 per
		// attempt, ±20 %), the call itself waiting until ctx ends.
		t := time.NewTimer(backoffFor(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return ended()
		case <-t.C:
			if ctx.Err() != nil { // both were ready: the deadline wins
				return ended()
			}
		}
	}
}

// backoffFor is the wait before a reconnect; tests replace it.
var backoffFor = reconnectBackoff

func reconnectBackoff(attempt int) time.Duration {
	d := float64(time.Second)
	for range attempt {
		if d *= 1.6; d > float64(120*time.Second) {
			d = float64(120 * time.Second)
			break
		}
	}
	return time.Duration(d * (1 + 0.2*(rand.Float64()*2-1)))
}
