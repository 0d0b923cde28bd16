package probes

import (
	"context"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// dial connects to addr from inside the network namespace at nsPath (the
// host's if nsPath is ""). The socket is created on an OS thread that has
// joined the namespace; once connected it works from any thread.
func dial(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	d := probeDialer()
	if nsPath == "" {
		return d.DialContext(ctx, network, addr)
	}
	type dialed struct {
		conn net.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		// Never unlocked unless the thread got back to its own namespace:
		// a locked thread is destroyed when its goroutine exits.
		goruntime.LockOSThread()
		conn, err := dialInNetNS(ctx, d, nsPath, network, addr)
		ch <- dialed{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// dialInNetNS must run on a locked OS thread. It unlocks the thread only if
// the thread is back in its original namespace.
func dialInNetNS(ctx context.Context, d *net.Dialer, nsPath, network, addr string) (net.Conn, error) {
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open own network namespace: %w", err)
	}
	defer orig.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter network namespace %s: %w", nsPath, err)
	}
	conn, dialErr := d.DialContext(ctx, network, addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
		goruntime.UnlockOSThread()
	}
	return conn, dialErr
}

// probeDialer dials serially (no parallel IPv4/IPv6 race on other threads)
// and closes sockets with a short linger, so frequent probes do not pile up
// TIME_WAIT sockets, like the kubelet's probe dialer.
func probeDialer() *net.Dialer {
	return &net.Dialer{
		FallbackDelay: -1,
		Control: func(network, address string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
			})
		},
	}
}
