package probes

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"time"

	"golang.org/x/sys/unix"
)

// One try of a network probe on the loop (see netloop.go): the socket made
// in the pod's namespace with the round's other sockets, a non-blocking
// connect, the request written, the answer read as readPlainResponse and
// readBody read it. Errors are worded as dialRaw, rawConn and the HTTP
// client word them.

// headMax is how much of an answer may hold its head: the response
// reader's buffer, within which readPlainResponse looks for it.
const headMax = 4096

// netRun is one try on the loop's sockets.
type netRun struct {
	lp        *loopProbe
	fd        int
	polled    bool // fd is in epfd (and in loopState.runs)
	connected bool
	buf       []byte
	headEnd   int // where the head's blank line starts; -1 until read
	code      int
	length    int64
}

// attempt queues one try of lp's probe for this round's start.
func (s *loopState) attempt(lp *loopProbe) {
	lp.tries++
	lp.stale = false
	lp.tryBegin = s.m.clock.Now()
	lp.deadline = lp.tryBegin.Add(lp.plan.timeout)
	s.starting = append(s.starting, lp)
}

// startAttempts starts the tries queued in this round (and any queued
// while doing so).
func (s *loopState) startAttempts() {
	for len(s.starting) > 0 {
		batch := s.starting
		s.starting = s.spare[:0]
		errs := s.openSockets(batch)
		for i, lp := range batch {
			r := lp.run
			switch {
			case errs[i] != nil:
				s.dialFailed(r, lp.plan.socketError(errs[i]), false)
			default:
				s.connect(r)
			}
			batch[i], errs[i] = nil, nil
		}
		s.spare = batch[:0]
	}
}

// openSockets makes a socket for each try in batch, each in its pod's
// namespace: the thread enters one namespace after the other and goes
// back to the agent's once at the end. Each try gets its netRun (fd -1 if
// its error is set).
func (s *loopState) openSockets(batch []*loopProbe) []error {
	errs := make([]error, len(batch))
	var (
		host    *os.File
		hostErr error
		locked  bool
		cur     = "" // the thread's namespace: the agent's
	)
	for i, lp := range batch {
		p := lp.plan
		lp.run = &netRun{lp: lp, fd: -1, headEnd: -1}
		if p.nsPath != cur {
			if !locked {
				host, hostErr = netns.hostNS() // on a thread still in the agent's namespace
				if hostErr != nil {
					errs[i] = hostErr
					continue
				}
				goruntime.LockOSThread()
				locked = true
			}
			var err error
			if p.nsPath == "" {
				err = setns(host, "")
			} else {
				err = enterNetNS(p.nsPath)
			}
			if err != nil {
				errs[i] = err
				continue
			}
			cur = p.nsPath
		}
		fd, err := unix.Socket(p.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		if err != nil {
			errs[i] = err
			continue
		}
		lp.run.fd = fd
	}
	if locked {
		if cur != "" && setns(host, "") != nil {
			s.threadBad = true // the thread stays locked, see main
			return errs
		}
		goruntime.UnlockOSThread()
	}
	return errs
}

// enterNetNS moves the locked thread into the namespace at path, worded
// as inNetNS words its errors.
func enterNetNS(path string) error {
	f, owned, err := netns.open(path)
	if err != nil {
		return err
	}
	if owned {
		defer f.Close()
	}
	return setns(f, path)
}

func setns(f *os.File, path string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Setns(int(fd), unix.CLONE_NEWNET) }); err != nil {
		serr = err
	}
	if serr != nil {
		return fmt.Errorf("enter network namespace %s: %w", path, serr)
	}
	return nil
}

// connect starts r's connect; most are made before it returns.
func (s *loopState) connect(r *netRun) {
	p := r.lp.plan
	_ = unix.SetsockoptLinger(r.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
	err := unix.Connect(r.fd, p.sa)
	for err == unix.EINTR {
		err = unix.Connect(r.fd, p.sa)
	}
	if err == unix.EINPROGRESS {
		done, cerr := connectResult(r.fd, p.sa)
		if !done {
			s.poll(r, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET)
			return
		}
		err = cerr
	}
	s.connected(r, err)
}

// poll waits for r's socket in epfd, until the try's deadline.
func (s *loopState) poll(r *netRun, events uint32) {
	if !r.polled {
		if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, r.fd, &unix.EpollEvent{Events: events, Fd: int32(r.fd)}); err != nil {
			lp := r.lp
			s.closeRun(r)
			s.attemptDone(lp, 0, "", os.NewSyscallError("epoll_ctl", err)) // an error: tried again
			return
		}
		r.polled = true
		s.runs[int32(r.fd)] = r
	}
	s.at(r.lp, r.lp.deadline)
}

// connected goes on once r's connect ended with err.
func (s *loopState) connected(r *netRun, err error) {
	lp := r.lp
	p := lp.plan
	if err != nil {
		s.dialFailed(r, p.dialError(err), false)
		return
	}
	r.connected = true
	if p.get == nil { // TCP: connected is all
		s.closeRun(r)
		s.attemptDone(lp, outcomeSuccess, "", nil)
		return
	}
	call := ioCall{p: p.get.wire}
	if !call.write(r.fd) {
		s.handOff(r, p.get.wire[call.n:], nil, nil) // the rest, on the poller
		return
	}
	if call.err != nil {
		werr := (&rawConn{fd: r.fd, raddr: p.raddr}).opErr("write", call.err)
		s.closeRun(r)
		s.attemptDone(lp, outcomeFailure, tripError(p.get.req, werr, false).Error(), nil)
		return
	}
	s.poll(r, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLET)
}

// dialFailed ends a try whose connection could not be made (err, worded
// as dialRaw's). Like dialIn, a failure through a namespace file that
// turned out to be stale is tried once more.
func (s *loopState) dialFailed(r *netRun, err error, timedOut bool) {
	lp := r.lp
	p := lp.plan
	s.closeRun(r)
	if !timedOut && p.nsPath != "" && !lp.stale && lp.w.ctx.Err() == nil &&
		s.m.clock.Now().Before(lp.deadline) && netns.stale(p.nsPath) {
		lp.stale = true
		s.starting = append(s.starting, lp)
		return
	}
	out, output, e := p.failure(err, timedOut)
	s.attemptDone(lp, out, output, e)
}

// ready handles an event of r's socket.
func (s *loopState) ready(r *netRun) {
	if !r.connected {
		if done, err := connectResult(r.fd, r.lp.plan.sa); done {
			s.connected(r, err)
		}
		return
	}
	s.read(r)
}

// read reads what came: the head (handed off unless plain), then the body
// as readBody reads it, up to maxOutput bytes or the Content-Length.
func (s *loopState) read(r *netRun) {
	if r.buf == nil {
		r.buf = s.getBuf()
	}
	for {
		n, err := unix.Read(r.fd, r.buf[len(r.buf):cap(r.buf)])
		var rerr error
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return
		case err != nil:
			rerr = (&rawConn{fd: r.fd, raddr: r.lp.plan.raddr}).opErr("read", err)
		case n == 0:
			rerr = io.EOF
		default:
			r.buf = r.buf[:len(r.buf)+n]
		}
		if r.headEnd < 0 {
			head := r.buf[:min(len(r.buf), headMax)]
			if !bytes.Contains(head, []byte("\r\n\r\n")) {
				if rerr != nil || len(head) == headMax {
					s.handOff(r, nil, r.buf, rerr) // ReadResponse decides
					return
				}
				continue
			}
			code, length, end, ok := plainHead(head)
			if !ok {
				s.handOff(r, nil, r.buf, rerr)
				return
			}
			r.code, r.length, r.headEnd = code, length, end
			if code == 204 || code == 304 { // no body, whatever the head says
				s.finish(r, nil, nil, false)
				return
			}
		}
		body := r.buf[r.headEnd+4:]
		want := int64(maxOutput)
		if r.length >= 0 && r.length < want {
			want = r.length
		}
		switch {
		case int64(len(body)) >= want:
			s.finish(r, body[:want], nil, false)
		case rerr == io.EOF && r.length >= 0:
			s.finish(r, body, io.ErrUnexpectedEOF, false)
		case rerr == io.EOF:
			s.finish(r, body, nil, false)
		case rerr != nil:
			s.finish(r, body, rerr, false)
		default:
			continue
		}
		return
	}
}

// finish ends an HTTP try with a plain answer.
func (s *loopState) finish(r *netRun, body []byte, bodyErr error, timedOut bool) {
	lp := r.lp
	out, output, err := httpOutcome(response{StatusCode: r.code, bodyErr: bodyErr}, body, nil, timedOut)
	s.closeRun(r) // output is a copy: body's buffer can go
	s.attemptDone(lp, out, output, err)
}

// expired ends a try whose deadline passed, as the try's deadline on a
// connection ends it.
func (s *loopState) expired(r *netRun) {
	p := r.lp.plan
	switch {
	case !r.connected:
		s.dialFailed(r, p.dialError(os.ErrDeadlineExceeded), true)
	case r.headEnd < 0:
		lp := r.lp
		s.closeRun(r)
		out, output, err := p.failure(os.ErrDeadlineExceeded, true)
		s.attemptDone(lp, out, output, err)
	default:
		body := r.buf[r.headEnd+4:]
		s.finish(r, body, os.ErrDeadlineExceeded, true)
	}
}

// handOff gives r's connection to a goroutine that finishes the probe the
// way a worker goroutine does: rest is what is left to write, pending what
// was read, perr the read's error (or EOF) that followed it.
func (s *loopState) handOff(r *netRun, rest, pending []byte, perr error) {
	lp := r.lp
	if r.polled {
		_ = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_DEL, r.fd, nil)
		delete(s.runs, int32(r.fd))
	}
	s.untime(lp)
	lp.run = nil
	pending = bytes.Clone(pending)
	s.putBuf(r.buf)
	lp.away = true
	w, p, fd := lp.w, lp.plan, r.fd
	deadline := time.Now().Add(lp.deadline.Sub(s.m.clock.Now()))
	go func() {
		out, output, err := finishHTTP(w.ctx, deadline, p, fd, rest, pending, perr)
		s.l.post(loopMsg{kind: msgResult, w: w, out: out, output: output, err: err})
	}()
}

// finishHTTP finishes an HTTP probe on the connected socket fd, from where
// the loop left it.
func finishHTTP(ctx context.Context, deadline time.Time, p *netPlan, fd int, rest, pending []byte, perr error) (outcome, string, error) {
	conn := newRawConn(fd, p.raddr)
	conn.sa = p.sa
	first := func() (response, []byte, error) {
		defer conn.Close()
		_ = conn.SetDeadline(deadline)
		defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })()
		if len(rest) > 0 {
			if _, err := conn.Write(rest); err != nil {
				return response{}, nil, err
			}
			conn.expectWait()
		}
		return readResponse(&replayReader{pending: pending, err: perr, r: conn}, p.get.req)
	}
	res, body, err := getFollowingRedirects(ctx, deadline, p.nsPath, p.get.req, nil, first)
	return httpOutcome(res, body, err, res.bodyErr != nil && timedOut(deadline, res.bodyErr))
}

// replayReader reads pending, then gives err if set, else reads r.
type replayReader struct {
	pending []byte
	err     error
	r       io.Reader
}

func (rr *replayReader) Read(p []byte) (int, error) {
	if len(rr.pending) > 0 {
		n := copy(p, rr.pending)
		rr.pending = rr.pending[n:]
		return n, nil
	}
	if rr.err != nil {
		return 0, rr.err
	}
	return rr.r.Read(p)
}

// closeRun closes r's socket (which takes it out of epfd) and forgets it.
func (s *loopState) closeRun(r *netRun) {
	if r.fd >= 0 {
		unix.Close(r.fd)
	}
	if r.polled {
		delete(s.runs, int32(r.fd))
	}
	if r.lp.run == r {
		s.untime(r.lp)
		r.lp.run = nil
	}
	s.putBuf(r.buf)
	r.buf = nil
}

func (s *loopState) getBuf() []byte {
	if n := len(s.bufs); n > 0 {
		b := s.bufs[n-1]
		s.bufs = s.bufs[:n-1]
		return b
	}
	return make([]byte, 0, headMax+maxOutput)
}

func (s *loopState) putBuf(b []byte) {
	if b != nil && len(s.bufs) < 64 {
		s.bufs = append(s.bufs, b[:0])
	}
}
