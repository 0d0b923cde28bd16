package probes

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A network probe makes one short connection and talks on it from one
// goroutine. Go's net package would register its socket with the runtime's
// poller, park and wake the goroutine for the connect and each read, and
// ask the kernel for both addresses; for a probe that costs about as much
// CPU as the connection itself. rawConn drives a non-blocking socket with
// plain system calls instead: a read or write is tried first and only an
// EAGAIN waits, in ppoll(2) on this goroutine's thread. Errors read like the
// net package's ("dial tcp ADDR: connect: connection refused",
// "read tcp LOCAL->REMOTE: i/o timeout").

// pollSlice bounds one ppoll wait so that a deadline moved by another
// goroutine (a cancelled probe sets one in the past) is seen within it.
const pollSlice = 50 * time.Millisecond

// rawConn is a connected TCP socket. Like a net.Conn it may be used from
// several goroutines (grpc-go reads, writes and closes from different
// ones): Close shuts the socket down, which wakes a blocked Read or Write,
// and the descriptor itself is closed when the last call using it returns,
// so that no call ever touches a reused descriptor number.
type rawConn struct {
	fd     int
	raddr  *net.TCPAddr
	rd, wd atomic.Int64 // read and write deadlines, Unix ns; 0: none

	mu      sync.Mutex
	inUse   int  // calls using fd now
	closing bool // Close was called
}

// acquire registers a call using fd; false once Close was called.
func (c *rawConn) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.inUse++
	return true
}

// release ends a call using fd, closing fd if it was the last one after a
// Close. It reports whether Close was called meanwhile.
func (c *rawConn) release() (closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inUse--
	if c.closing && c.inUse == 0 {
		_ = unix.Close(c.fd)
	}
	return c.closing
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
	c := &rawConn{fd: fd, raddr: raddr}
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
	if dl, ok := ctx.Deadline(); ok {
		c.wd.Store(dl.UnixNano())
	}
	err = unix.Connect(fd, sa)
	for err == unix.EINTR {
		err = unix.Connect(fd, sa)
	}
	if err == unix.EINPROGRESS {
		err = c.wait(ctx, unix.POLLOUT, &c.wd)
		if err == nil {
			var soerr int
			if soerr, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err == nil && soerr != 0 {
				err = unix.Errno(soerr)
			}
		}
	}
	c.wd.Store(0)
	if err != nil {
		c.Close()
		if _, isErrno := err.(unix.Errno); isErrno {
			return nil, fail("connect", err)
		}
		return nil, fail("", err)
	}
	return c, nil
}

// wait blocks in ppoll until the socket is ready for events, the deadline
// in dl passes (os.ErrDeadlineExceeded) or ctx ends.
func (c *rawConn) wait(ctx context.Context, events int16, dl *atomic.Int64) error {
	fds := []unix.PollFd{{Fd: int32(c.fd), Events: events}}
	for {
		slice := pollSlice
		if d := dl.Load(); d != 0 {
			left := time.Until(time.Unix(0, d))
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			slice = min(slice, left)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ts := unix.NsecToTimespec(slice.Nanoseconds())
		n, err := unix.Ppoll(fds, &ts, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("ppoll", err)
		}
		if n > 0 {
			return nil // ready, or an error the next call reports
		}
	}
}

func (c *rawConn) opErr(op string, err error) error {
	if _, isErrno := err.(unix.Errno); isErrno {
		err = os.NewSyscallError(op, err)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.raddr, Err: err}
}

func (c *rawConn) Read(p []byte) (int, error) {
	if !c.acquire() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	n, err := c.read(p)
	if c.release() && err != nil {
		err = c.opErr("read", net.ErrClosed)
	}
	return n, err
}

func (c *rawConn) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if d := c.rd.Load(); d != 0 && time.Now().UnixNano() >= d {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		n, err := unix.Read(c.fd, p)
		switch {
		case err == nil && n == 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return 0, c.opErr("read", err)
		}
		if err := c.wait(context.Background(), unix.POLLIN, &c.rd); err != nil {
			return 0, c.opErr("read", err)
		}
	}
}

func (c *rawConn) Write(p []byte) (int, error) {
	if !c.acquire() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	n, err := c.write(p)
	if c.release() && err != nil {
		err = c.opErr("write", net.ErrClosed)
	}
	return n, err
}

func (c *rawConn) write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		if d := c.wd.Load(); d != 0 && time.Now().UnixNano() >= d {
			return done, c.opErr("write", os.ErrDeadlineExceeded)
		}
		// MSG_NOSIGNAL: a peer that went away is EPIPE, never SIGPIPE.
		n, err := unix.SendmsgN(c.fd, p[done:], nil, nil, unix.MSG_NOSIGNAL)
		switch {
		case err == nil:
			done += n
			continue
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return done, c.opErr("write", err)
		}
		if err := c.wait(context.Background(), unix.POLLOUT, &c.wd); err != nil {
			return done, c.opErr("write", err)
		}
	}
	return done, nil
}

// Close closes the socket at once if no call uses it, else shuts it down
// (waking those calls) and leaves the close to the last of them.
func (c *rawConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return &net.OpError{Op: "close", Net: "tcp", Addr: c.raddr, Err: net.ErrClosed}
	}
	c.closing = true
	if c.inUse > 0 {
		_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
		return nil
	}
	return unix.Close(c.fd)
}

// LocalAddr asks the kernel: only error messages need it.
func (c *rawConn) LocalAddr() net.Addr {
	if !c.acquire() {
		return nil
	}
	defer c.release()
	sa, err := unix.Getsockname(c.fd)
	if err != nil {
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

func (c *rawConn) SetDeadline(t time.Time) error {
	c.rd.Store(deadlineNS(t))
	c.wd.Store(deadlineNS(t))
	return nil
}

func (c *rawConn) SetReadDeadline(t time.Time) error  { c.rd.Store(deadlineNS(t)); return nil }
func (c *rawConn) SetWriteDeadline(t time.Time) error { c.wd.Store(deadlineNS(t)); return nil }

func deadlineNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
