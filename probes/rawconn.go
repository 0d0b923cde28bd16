package probes

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A network probe makes one short connection and talks on it from one
// goroutine. Go's net package would also resolve and ask the kernel for
// both addresses and go through its generic dialer; rawConn makes the
// non-blocking socket itself and drives it with plain system calls, tried
// first: only an EAGAIN waits, and that wait parks the goroutine on the
// runtime's poller (the socket is an *os.File), as the net package's do.
// (An earlier version waited in ppoll(2) on the goroutine's thread: cheap
// for one probe after another, but a blocking system call per probe made
// the runtime's sysmon retake processors and poll every 20 µs once
// probes overlapped; at 250 probes a second that cost more CPU than the
// probes.) Errors read like the net package's ("dial tcp ADDR: connect:
// connection refused", "read tcp LOCAL->REMOTE: i/o timeout").

// rawConn is a connected TCP socket. Like a net.Conn it may be used from
// several goroutines (grpc-go reads, writes and closes from different
// ones): the *os.File it wraps makes Close wake blocked calls and closes
// the descriptor only when the last call using it returned.
type rawConn struct {
	f      *os.File
	rc     syscall.RawConn
	raddr  *net.TCPAddr
	closed atomic.Bool
}

// dialRaw connects to ip:port with a socket made in the network namespace
// at nsPath (the agent's own if ""), before ctx's deadline. The socket
// closes with a 1 s linger, like the kubelet's probe dialer's, so frequent
// probes leave no TIME_WAIT sockets.
func dialRaw(ctx context.Context, nsPath string, ip netip.Addr, port int) (net.Conn, error) {
	ip = ip.Unmap()
	raddr := &net.TCPAddr{IP: ip.AsSlice(), Port: port, Zone: ip.Zone()}
	fail := func(syscall string, err error) error {
		if syscall != "" {
			err = os.NewSyscallError(syscall, err)
		}
		return &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err}
	}
	var (
		family = unix.AF_INET
		sa     unix.Sockaddr
	)
	if ip.Is4() {
		sa = &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	} else {
		family = unix.AF_INET6
		sa6 := &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
		if z := ip.Zone(); z != "" {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return nil, fail("", err)
			}
			sa6.ZoneId = uint32(ifi.Index)
		}
		sa = sa6
	}
	socket := func() (int, error) {
		return unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	}
	var (
		fd  int
		err error
	)
	if nsPath == "" {
		fd, err = socket()
	} else {
		fd, err = inNetNS(nsPath, func(leave func()) (int, error) {
			fd, err := socket()
			leave()
			return fd, err
		})
	}
	if err != nil {
		if _, isErrno := err.(unix.Errno); isErrno {
			return nil, fail("socket", err)
		}
		return nil, fail("", err)
	}
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
	c, err := newRawConn(fd, raddr)
	if err != nil {
		return nil, fail("", err)
	}
	err = unix.Connect(fd, sa)
	for err == unix.EINTR {
		err = unix.Connect(fd, sa)
	}
	if err == unix.EINPROGRESS {
		err = c.awaitConnect(ctx)
	}
	if err != nil {
		c.Close()
		if _, isErrno := err.(unix.Errno); isErrno {
			return nil, fail("connect", err)
		}
		return nil, fail("", err)
	}
	return c, nil
}

// newRawConn wraps the non-blocking socket fd; the *os.File registers it
// with the runtime's poller. On error fd is closed.
func newRawConn(fd int, raddr *net.TCPAddr) (*rawConn, error) {
	f := os.NewFile(uintptr(fd), "tcp")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rawConn{f: f, rc: rc, raddr: raddr}, nil
}

// awaitConnect waits until a connect in progress ends, ctx's deadline
// passes (os.ErrDeadlineExceeded) or ctx is cancelled (its error).
func (c *rawConn) awaitConnect(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.f.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var soerr error
	err := c.rc.Write(func(fd uintptr) bool {
		// RawConn.Write forgets readiness seen before it was called, and the
		// connect may have finished since it started: ask the socket.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, 0)
		for err == unix.EINTR {
			n, err = unix.Poll(pfd, 0)
		}
		if err != nil {
			soerr = os.NewSyscallError("poll", err)
			return true
		}
		if n == 0 || pfd[0].Revents&(unix.POLLOUT|unix.POLLERR|unix.POLLHUP) == 0 {
			return false // still connecting: wait on the poller
		}
		n, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			soerr = err
		case n == int(unix.EINPROGRESS) || n == int(unix.EALREADY) || n == int(unix.EINTR):
			return false
		case n != 0:
			soerr = unix.Errno(n)
		}
		return true
	})
	_ = c.f.SetWriteDeadline(time.Time{})
	if err != nil {
		if ctx.Err() == context.Canceled {
			return ctx.Err()
		}
		return err
	}
	return soerr
}

func (c *rawConn) opErr(op string, err error) error {
	if _, isErrno := err.(unix.Errno); isErrno {
		err = os.NewSyscallError(op, err)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.raddr, Err: err}
}

// ioErr is the error of a read or write on the poller: net.ErrClosed once
// Close was called, as the net package says.
func (c *rawConn) ioErr(op string, err error) error {
	if c.closed.Load() && !errors.Is(err, os.ErrDeadlineExceeded) {
		err = net.ErrClosed
	}
	return c.opErr(op, err)
}

func (c *rawConn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	var (
		n    int
		rerr error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), p)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, c.ioErr("read", err)
	case rerr != nil:
		return 0, c.opErr("read", rerr)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawConn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	done := 0
	var werr error
	err := c.rc.Write(func(fd uintptr) bool {
		for done < len(p) {
			// MSG_NOSIGNAL: a peer that went away is EPIPE, never SIGPIPE.
			n, err := unix.SendmsgN(int(fd), p[done:], nil, nil, unix.MSG_NOSIGNAL)
			switch {
			case err == nil:
				done += n
			case err == unix.EINTR:
			case err == unix.EAGAIN:
				return false
			default:
				werr = err
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return done, c.ioErr("write", err)
	case werr != nil:
		return done, c.opErr("write", werr)
	}
	return done, nil
}

// Close closes the socket: blocked calls end with net.ErrClosed, and the
// descriptor is closed when the last of them returned.
func (c *rawConn) Close() error {
	if c.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: "tcp", Addr: c.raddr, Err: net.ErrClosed}
	}
	return c.f.Close()
}

// LocalAddr asks the kernel: only error messages need it.
func (c *rawConn) LocalAddr() net.Addr {
	var sa unix.Sockaddr
	if c.rc.Control(func(fd uintptr) { sa, _ = unix.Getsockname(int(fd)) }) != nil {
		return nil
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	}
	return nil
}

func (c *rawConn) RemoteAddr() net.Addr { return c.raddr }

func (c *rawConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *rawConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *rawConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }
