package probes

import (
	"context"
	"net"
	"strconv"
	"time"
)

// probeTCP succeeds if a TCP connection to host:port can be opened within
// timeout from the pod's network namespace. The timeout is passed down as
// a deadline (as an HTTP probe's is); ctx only cancels.
func probeTCP(ctx context.Context, nsPath, host string, port int, timeout time.Duration) (outcome, string, error) {
	conn, err := dialUntil(ctx, time.Now().Add(timeout), nsPath, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return outcomeFailure, err.Error(), nil
	}
	_ = conn.Close()
	return outcomeSuccess, "", nil
}
