package probes

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// dial connects to addr (host:port) over TCP from inside the network
// namespace at nsPath, the host's if nsPath is "". It behaves like the
// kubelet's probe dialer: addresses are tried one after the other, and the
// socket closes with a 1 s linger so frequent probes leave no TIME_WAIT
// sockets behind. Errors read like net.Dialer's ("dial tcp ADDR: connect:
// connection refused", "dial tcp ADDR: i/o timeout"). A host name is
// resolved in the agent's namespace, as the kubelet resolves it. The
// connection is a rawConn (see rawconn.go).
func dial(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	deadline, _ := ctx.Deadline()
	return dialUntil(ctx, deadline, nsPath, network, addr)
}

// dialUntil is dial with the deadline given instead of carried by ctx
// (zero: none), which then only cancels: an HTTP probe needs no context of
// its own that way, with its timer, unless a name has to be resolved.
func dialUntil(ctx context.Context, deadline time.Time, nsPath, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	ip, ipErr := netip.ParseAddr(host)
	if err == nil && ipErr == nil {
		return dialIn(ctx, deadline, nsPath, ip, int(port))
	}
	// A name to resolve, in time.
	if d, ok := ctx.Deadline(); !deadline.IsZero() && (!ok || deadline.Before(d)) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	if err != nil {
		port64, lerr := net.DefaultResolver.LookupPort(ctx, network, portStr)
		if lerr != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: lerr}
		}
		port = uint64(port64)
	}
	if ipErr == nil {
		return dialIn(ctx, deadline, nsPath, ip, int(port))
	}
	// A name: resolved here, its addresses tried one by one.
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	firstErr := error(&net.OpError{Op: "dial", Net: network, Err: &net.AddrError{Err: "no suitable address found", Addr: host}})
	for i, ip := range ips {
		c, err := dialIn(ctx, deadline, nsPath, ip, int(port))
		if err == nil {
			return c, nil
		}
		if i == 0 {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// dialIn is dialRaw, once more if it failed through a held namespace file
// that turned out to be stale (the path names another namespace now).
func dialIn(ctx context.Context, deadline time.Time, nsPath string, ip netip.Addr, port int) (net.Conn, error) {
	c, err := dialRaw(ctx, deadline, nsPath, ip, port)
	if err != nil && nsPath != "" && ctx.Err() == nil && !expired(deadline) && netns.stale(nsPath) {
		return dialRaw(ctx, deadline, nsPath, ip, port)
	}
	return c, err
}
