package containerd

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/miniagent/miniagent/runtime"
)

// portForwardDialTimeout bounds the connect to the pod's port.
const portForwardDialTimeout = 10 * time.Second

// PortForward implements runtime.Runtime: it connects to 127.0.0.1:port in
// the pod's network namespace, as the CRI server does for
// `kubectl port-forward`, and splices the connection with stream.
func (r *Runtime) PortForward(ctx context.Context, netnsPath string, port int32, stream io.ReadWriteCloser) error {
	if port <= 0 || port > 65535 {
		stream.Close()
		return fmt.Errorf("port forward: invalid port %d", port)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	dctx, cancel := context.WithTimeout(ctx, portForwardDialTimeout)
	conn, err := dialInNetNS(dctx, netnsPath, addr)
	cancel()
	if err != nil {
		stream.Close()
		return fmt.Errorf("port forward to port %d: %w", port, err)
	}
	return runtime.Splice(ctx, stream, conn)
}

// dialInNetNS connects to addr (an IP and port) over TCP with a socket made
// in the network namespace at nsPath ("" = the agent's own). A socket stays
// in the namespace it was made in, so only its creation runs there: the
// goroutine locks its thread, enters the pod's namespace, and goes back
// right after socket(2), in the dialer's Control hook, before the connect.
// Should the way back fail, the thread stays locked to this goroutine and
// the Go runtime ends it when the goroutine exits.
func dialInNetNS(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	d := &net.Dialer{FallbackDelay: -1}
	if nsPath == "" {
		return d.DialContext(ctx, "tcp", addr)
	}
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()

	goruntime.LockOSThread()
	// This thread is in the agent's namespace: no locked thread of this
	// process is handed to other goroutines in another one.
	host, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		goruntime.UnlockOSThread()
		return nil, fmt.Errorf("open own network namespace: %w", err)
	}
	defer host.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		goruntime.UnlockOSThread()
		return nil, fmt.Errorf("enter network namespace %s: %w", nsPath, err)
	}
	left := false
	leave := func() error {
		if left {
			return nil
		}
		left = true
		if err := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("leave network namespace %s: %w", nsPath, err)
		}
		goruntime.UnlockOSThread()
		return nil
	}
	d.Control = func(network, address string, c syscall.RawConn) error { return leave() }
	conn, err := d.DialContext(ctx, "tcp", addr)
	if lerr := leave(); lerr != nil && err == nil {
		conn.Close()
		return nil, lerr
	}
	return conn, err
}
