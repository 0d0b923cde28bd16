package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// BindAddress checks a --metrics-bind-address value, host:port. An empty
// host means the loopback address 127.0.0.1, as does "localhost". It
// returns the address to listen on and whether it may be reachable from
// other hosts (any host that is not a loopback address).
func BindAddress(addr string) (listen string, exposed bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, fmt.Errorf("metrics bind address %q: want host:port or :port: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", false, fmt.Errorf("metrics bind address %q: invalid port %q", addr, port)
	}
	switch ip := net.ParseIP(host); {
	case host == "" || host == "localhost":
		host = "127.0.0.1"
	case ip == nil || !ip.IsLoopback():
		exposed = true
	}
	return net.JoinHostPort(host, port), exposed, nil
}

// Listen opens the TCP listener of --metrics-bind-address (see
// BindAddress). A host other than loopback is honoured with a warning:
// the metrics name the node's pods and are served without authentication.
func Listen(addr string, log *slog.Logger) (net.Listener, error) {
	bind, exposed, err := BindAddress(addr)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if exposed {
		log.Warn("metrics served on a non-loopback address, without authentication: other hosts can read the pods' names",
			"address", bind)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", bind, err)
	}
	return ln, nil
}

// Serve serves GET /metrics on ln until ctx ends, then closes ln.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	}()
	log.Info("metrics listening", "address", ln.Addr().String())
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	cancel()
	<-done
	return err
}
