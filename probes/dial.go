package probes

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// dial connects to addr (host:port) over TCP from inside the network
// namespace at nsPath, the host's if nsPath is "". It behaves like the
// kubelet's probe dialer: addresses are tried one after the other, and the
// socket closes with a 1 s linger so frequent probes leave no TIME_WAIT
// sockets behind. Errors read like net.Dialer's ("dial tcp ADDR: connect:
// connection refused", "dial tcp ADDR: i/o timeout"). A host name is
// resolved in the agent's namespace, as the kubelet resolves it.
func dial(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	if nsPath == "" {
		return probeDialer().DialContext(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return dialNS(ctx, nsPath, network, addr)
	}
	// The dialer in the pod's namespace must make exactly one socket, so a
	// name is resolved here and its addresses are tried one by one.
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	firstErr := error(&net.OpError{Op: "dial", Net: network, Err: &net.AddrError{Err: "no suitable address found", Addr: host}})
	for i, ip := range ips {
		c, err := dialNS(ctx, nsPath, network, net.JoinHostPort(ip.Unmap().String(), port))
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

// probeDialer dials serially (no parallel IPv4/IPv6 race on other threads)
// and closes sockets with a short linger, like the kubelet's probe dialer.
func probeDialer() *net.Dialer {
	return &net.Dialer{
		FallbackDelay: -1,
		KeepAlive:     -1, // a probe's connection lives for well under a second
		Control: func(network, address string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { setLinger(int(fd)) })
		},
	}
}

func setLinger(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
}

// dialNS connects to addr, an IP and port, with a socket made in the
// namespace at nsPath.
func dialNS(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	return inNetNS(nsPath, func(leave func()) (net.Conn, error) {
		d := &net.Dialer{
			FallbackDelay: -1,
			KeepAlive:     -1,
			// Called once, right after socket(2) and before connect(2).
			Control: func(network, address string, c syscall.RawConn) error {
				leave()
				return c.Control(func(fd uintptr) { setLinger(int(fd)) })
			},
		}
		return d.DialContext(ctx, network, addr)
	})
}
