package probes

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
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
// runtime's poller (the socket then becomes an *os.File), as the net
// package's do. Most probes never wait: on loopback or a veth the
// connection is made by the time connect returns, and the answer is often
// there by the time it is read. So the socket is registered with the
// poller only when a call first has to wait, which saves the poller's
// bookkeeping (fcntl, two epoll_ctl calls, an *os.File with a finalizer)
// for most probes. (An earlier version waited in ppoll(2) on the
// goroutine's thread: cheap for one probe after another, but a blocking
// system call per probe made the runtime's sysmon retake processors and
// poll every 20 µs once probes overlapped; at 250 probes a second that
// cost more CPU than the probes.) Errors read like the net package's
// ("dial tcp ADDR: connect: connection refused", "read tcp
// LOCAL->REMOTE: i/o timeout").

// rawConn is a connected TCP socket. Like a net.Conn it may be used from
// several goroutines (grpc-go reads, writes and closes from different
// ones): until the socket is on the poller, every call holds mu around
// its (non-blocking) system call, so Close cannot free the descriptor
// under another call; afterwards the *os.File makes Close wake blocked
// calls and closes the descriptor only when the last call using it
// returned.
type rawConn struct {
	raddr  *net.TCPAddr
	sa     unix.Sockaddr // raddr, for connectResult
	closed atomic.Bool

	mu sync.Mutex
	fd int
	// f and rc are nil until a call had to wait; from then on every call
	// goes through them.
	f   *os.File
	rc  syscall.RawConn
	pio pollIO // Read's and Write's once on the poller
	// Deadlines set while f is nil, applied to f when it is made.
	rdl, wdl time.Time
}

// dialRaw connects to ip:port with a socket made in the network namespace
// at nsPath (the agent's own if ""), before deadline (zero: none);
// cancelling ctx ends it too. The socket closes with a 1 s linger, like
// the kubelet's probe dialer's, so frequent probes leave no TIME_WAIT
// sockets.
func dialRaw(ctx context.Context, deadline time.Time, nsPath string, ip netip.Addr, port int) (net.Conn, error) {
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
	c := newRawConn(fd, raddr)
	c.sa = sa
	err = unix.Connect(fd, sa)
	for err == unix.EINTR {
		err = unix.Connect(fd, sa)
	}
	if err == unix.EINPROGRESS {
		err = c.awaitConnect(ctx, deadline)
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

// newRawConn wraps the non-blocking socket fd, which Close closes.
func newRawConn(fd int, raddr *net.TCPAddr) *rawConn {
	return &rawConn{fd: fd, raddr: raddr}
}

// register puts the socket on the runtime's poller, with the deadlines set
// so far; c.mu is held.
func (c *rawConn) register() {
	c.f = os.NewFile(uintptr(c.fd), "tcp")
	c.rc, _ = c.f.SyscallConn() // never fails for a non-nil *os.File
	if !c.rdl.IsZero() {
		_ = c.f.SetReadDeadline(c.rdl)
	}
	if !c.wdl.IsZero() {
		_ = c.f.SetWriteDeadline(c.wdl)
	}
}

// expectWait puts the socket on the poller now, for a caller that knows
// its next read has to wait (an answer from another process): trying the
// bare descriptor first would cost a read that finds nothing, and
// syscall.RawConn.Read then tries once more before it waits.
func (c *rawConn) expectWait() {
	if c.bare() {
		if !c.closed.Load() {
			c.register()
		}
		c.mu.Unlock()
	}
}

// bare locks c.mu and reports whether calls still go to the bare
// descriptor (the lock is then held) or through the poller (released).
// A closed socket is bare (held) with c.closed set.
func (c *rawConn) bare() bool {
	c.mu.Lock()
	if c.f == nil {
		return true
	}
	c.mu.Unlock()
	return false
}

// onBare runs try on the bare descriptor while the socket is not on the
// poller. done: try decided the call, or err says why it could not run
// (closed, or the deadline at *dl passed). When try would have to wait,
// the socket goes on the poller and the caller waits there.
func (c *rawConn) onBare(dl *time.Time, try func(fd int) bool) (done bool, err error) {
	if !c.bare() {
		return false, nil
	}
	defer c.mu.Unlock()
	switch {
	case c.closed.Load():
		return true, net.ErrClosed
	case expired(*dl):
		return true, os.ErrDeadlineExceeded
	case try(c.fd):
		return true, nil
	}
	c.register()
	return false, nil
}

// expired reports whether the deadline dl (zero: none) has passed.
func expired(dl time.Time) bool { return !dl.IsZero() && !time.Now().Before(dl) }

// connectResult says whether the connect to sa in progress on fd has
// ended, and how, by calling connect again: the kernel answers 0 (or
// EISCONN) once the connection is made, EALREADY while it is still being
// made, and the connect's error if it failed. That is one system call
// where poll(2) and then SO_ERROR (the net package's way) were two; a
// wake-up that came too early just answers EALREADY. RawConn.Write
// forgets readiness seen before it was called, and the connect may have
// finished since it started: so the socket is asked.
func connectResult(fd int, sa unix.Sockaddr) (done bool, err error) {
	err = unix.Connect(fd, sa)
	switch err {
	case nil, unix.EISCONN:
		return true, nil
	case unix.EALREADY, unix.EINPROGRESS, unix.EINTR:
		return false, nil
	}
	return true, err
}

// awaitConnect waits until a connect in progress ends, the deadline
// passes (os.ErrDeadlineExceeded) or ctx is cancelled (its error). It is
// called before the connection is shared, so no other call runs.
func (c *rawConn) awaitConnect(ctx context.Context, deadline time.Time) error {
	if done, err := connectResult(c.fd, c.sa); done {
		return err
	}
	c.mu.Lock()
	c.register()
	c.mu.Unlock()
	if !deadline.IsZero() {
		_ = c.f.SetWriteDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var soerr error
	err := c.rc.Write(func(fd uintptr) bool {
		done, err := connectResult(int(fd), c.sa)
		soerr = err
		return done
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

// Close closes the socket: blocked calls end with net.ErrClosed, and the
// descriptor is closed when the last of them returned.
func (c *rawConn) Close() error {
	if c.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: "tcp", Addr: c.raddr, Err: net.ErrClosed}
	}
	if c.bare() {
		defer c.mu.Unlock()
		if err := unix.Close(c.fd); err != nil {
			return &net.OpError{Op: "close", Net: "tcp", Addr: c.raddr, Err: os.NewSyscallError("close", err)}
		}
		return nil
	}
	return c.f.Close()
}

// LocalAddr asks the kernel: only error messages need it.
func (c *rawConn) LocalAddr() net.Addr {
	var sa unix.Sockaddr
	if c.bare() {
		if !c.closed.Load() {
			sa, _ = unix.Getsockname(c.fd)
		}
		c.mu.Unlock()
	} else if c.rc.Control(func(fd uintptr) { sa, _ = unix.Getsockname(int(fd)) }) != nil {
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

func (c *rawConn) SetDeadline(t time.Time) error      { return c.setDeadline(t, true, true) }
func (c *rawConn) SetReadDeadline(t time.Time) error  { return c.setDeadline(t, true, false) }
func (c *rawConn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, false, true) }

// setDeadline sets the read and/or write deadline: kept for register while
// the socket is bare, else on the *os.File.
func (c *rawConn) setDeadline(t time.Time, read, write bool) error {
	if c.bare() {
		if read {
			c.rdl = t
		}
		if write {
			c.wdl = t
		}
		c.mu.Unlock()
		return nil
	}
	switch {
	case read && write:
		return c.f.SetDeadline(t)
	case read:
		return c.f.SetReadDeadline(t)
	}
	return c.f.SetWriteDeadline(t)
}
