package probes

import (
	"io"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// Read and Write of a rawConn: tried on the bare descriptor first, then
// (when that would have to wait) on the runtime's poller; see rawconn.go.

func (c *rawConn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	call := ioCall{p: p}
	if done, err := c.onBare(&c.rdl, call.read); err != nil {
		return 0, c.opErr("read", err)
	} else if done {
		return c.readResult(call.n, call.err)
	}
	call, err := c.pio.r.run(call, (*ioCall).read, c.rc.Read)
	if err != nil {
		return 0, c.ioErr("read", err)
	}
	return c.readResult(call.n, call.err)
}

func (c *rawConn) readResult(n int, err error) (int, error) {
	switch {
	case err != nil:
		return 0, c.opErr("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawConn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	call := ioCall{p: p}
	if decided, err := c.onBare(&c.wdl, call.write); err != nil {
		return 0, c.opErr("write", err)
	} else if decided {
		return c.writeResult(call.n, call.err)
	}
	// On the poller, with what the bare try wrote so far.
	call, err := c.pio.w.run(call, (*ioCall).write, c.rc.Write)
	if err != nil {
		return call.n, c.ioErr("write", err)
	}
	return c.writeResult(call.n, call.err)
}

func (c *rawConn) writeResult(done int, err error) (int, error) {
	if err != nil {
		return done, c.opErr("write", err)
	}
	return done, nil
}

// ioCall is one Read's or Write's buffer and result. A call on the bare
// descriptor keeps it on its stack; a call on the poller uses the one in
// its pollLane, whose function is made once: a closure over the call's
// variables, handed to syscall.RawConn, would be made (and its variables
// moved to the heap) on every call.
type ioCall struct {
	p   []byte
	n   int // read: bytes read; write: bytes of p written so far
	err error
}

// read reads into p once: false if it would have to wait.
func (r *ioCall) read(fd int) bool {
	for {
		r.n, r.err = unix.Read(fd, r.p)
		if r.err != unix.EINTR {
			return r.err != unix.EAGAIN
		}
	}
}

// write writes what is left of p: false if it would have to wait.
func (w *ioCall) write(fd int) bool {
	for w.n < len(w.p) {
		// MSG_NOSIGNAL: a peer that went away is EPIPE, never SIGPIPE.
		n, err := unix.SendmsgN(fd, w.p[w.n:], nil, nil, unix.MSG_NOSIGNAL)
		switch {
		case err == nil:
			w.n += n
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return false
		default:
			w.err = err
			return true
		}
	}
	return true
}

// pollIO is what Read and Write use once the socket is on the poller.
type pollIO struct{ r, w pollLane }

// pollLane runs one call at a time (the *os.File serializes them anyway)
// through the poller. Its function for the poller is made on first use.
type pollLane struct {
	mu   sync.Mutex
	call ioCall
	fn   func(fd uintptr) bool
}

// run does call with op (ioCall.read or write), waiting through wait (the
// syscall.RawConn's Read or Write), and returns it done.
func (l *pollLane) run(call ioCall, op func(*ioCall, int) bool, wait func(func(fd uintptr) bool) error) (ioCall, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fn == nil {
		l.fn = func(fd uintptr) bool { return op(&l.call, int(fd)) }
	}
	l.call = call
	err := wait(l.fn)
	call, l.call = l.call, ioCall{}
	return call, err
}
