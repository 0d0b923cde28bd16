package probes

import (
	"context"
	"net"
	"strconv"
	"time"
)

// probeTCP succeeds if a TCP connection to host:port can be opened within
// timeout from the pod's network namespace.
func probeTCP(ctx context.Context, nsPath, host string, port int, timeout time.Duration) (outcome, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(ctx, nsPath, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return outcomeFailure, err.Error(), nil
	}
	_ = conn.Close()
	return outcomeSuccess, "", nil
}
