package probes

import (
	"fmt"
	"os"
	goruntime "runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// A socket belongs to the network namespace of the thread that created it,
// for its whole life, whichever thread later connects, reads or writes it.
// So a network probe only needs its socket *created* inside the pod's
// namespace: the probing goroutine locks its thread, enters the pod's
// namespace, creates the socket, and goes back to the
// agent's namespace and unlocks before the connect; the connect and all
// I/O then run as usual (see rawconn.go).
//
// Entering and leaving costs two setns calls. What made the old dial
// expensive was everything around them: a new goroutine per dial (which
// wakes a second thread) and opening both namespace files every time. An
// nsFiles keeps a pod's namespace file open while a Manager holds its path
// (an instance with network probes runs in that pod); the agent's own
// namespace is opened once. Measured and rejected: one long-lived locked
// thread per namespace making sockets on request; handing each request to
// that thread and back cost several times the two setns calls.

// netns serves every network probe of the process.
var netns = &nsFiles{held: map[string]*nsFile{}}

type nsFiles struct {
	mu   sync.Mutex
	held map[string]*nsFile

	hostOnce sync.Once
	host     *os.File // the agent's own network namespace
	hostErr  error
}

// nsFile is an open namespace file, kept while holds > 0.
type nsFile struct {
	holds    int
	f        *os.File // nil until the first probe needs it
	dev, ino uint64   // identity of the namespace f refers to
}

// hold keeps the namespace file at path open (from its first use) until
// the matching release.
func (p *nsFiles) hold(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.held[path]
	if h == nil {
		h = &nsFile{}
		p.held[path] = h
	}
	h.holds++
}

// release undoes one hold; the last one closes the file, so that the agent
// does not keep a deleted pod's namespace alive.
func (p *nsFiles) release(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.held[path]
	if h == nil {
		return
	}
	if h.holds--; h.holds > 0 {
		return
	}
	delete(p.held, path)
	if h.f != nil {
		h.f.Close() // waits for a setns in flight (RawControl holds a reference)
	}
}

// open returns the namespace file at path and whether the caller must close
// it. A held path's file is opened once and reused without looking at the
// path again (a stat of it cost a tenth of an HTTP probe); should the path
// come to name another namespace (unmounted, another one mounted there),
// the dial that fails there calls stale, which drops the file, and
// retries (see dial).
func (p *nsFiles) open(path string) (f *os.File, owned bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.held[path]
	if h != nil && h.f != nil {
		return h.f, false, nil
	}
	f, err = os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("open network namespace: %w", err)
	}
	var fst unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("open network namespace: %w", &os.PathError{Op: "fstat", Path: path, Err: err})
	}
	if h == nil {
		return f, true, nil
	}
	h.f, h.dev, h.ino = f, fst.Dev, fst.Ino
	return f, false, nil
}

// stale reports whether path is held with an open file that is no longer
// the namespace the path names (or the path is gone), and if so drops the
// file so that the next open follows the path.
func (p *nsFiles) stale(path string) bool {
	var st unix.Stat_t
	serr := unix.Stat(path, &st)
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.held[path]
	if h == nil || h.f == nil || (serr == nil && h.dev == st.Dev && h.ino == st.Ino) {
		return false
	}
	h.f.Close() // waits for a setns in flight (RawControl holds a reference)
	h.f = nil
	return true
}

// hostNS opens the agent's own network namespace once. It must first run on
// a thread in that namespace: any thread not locked by this package is.
func (p *nsFiles) hostNS() (*os.File, error) {
	p.hostOnce.Do(func() {
		p.host, p.hostErr = os.Open("/proc/thread-self/ns/net")
		if p.hostErr != nil {
			p.hostErr = fmt.Errorf("open own network namespace: %w", p.hostErr)
		}
	})
	return p.host, p.hostErr
}

// inNetNS runs create on the calling goroutine, locked to its thread,
// with that thread in the namespace at path. create must make exactly one
// socket and call the leave function it is given right after, before
// anything that can block (dialRaw calls it right after socket(2)):
// leave takes the thread back to the agent's namespace and unlocks it. If
// create returns without calling leave, inNetNS calls it.
//
// Should the way back fail (setns only fails so for lack of memory), the
// thread stays locked to the calling goroutine for good: the runtime runs
// no other goroutine on it and ends it when that goroutine exits. (Running
// create on a goroutine of its own, which could simply exit, wakes a
// second thread for every probe: it doubled the CPU cost of a TCP probe.)
func inNetNS[T any](path string, create func(leave func()) (T, error)) (T, error) {
	var zero T
	ns, owned, err := netns.open(path)
	if err != nil {
		return zero, err
	}
	if owned {
		defer ns.Close()
	}
	host, err := netns.hostNS()
	if err != nil {
		return zero, err
	}
	rc, err := ns.SyscallConn()
	if err != nil {
		return zero, fmt.Errorf("enter network namespace %s: %w", path, err)
	}

	goruntime.LockOSThread()
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Setns(int(fd), unix.CLONE_NEWNET) }); err != nil {
		serr = err
	}
	if serr != nil {
		goruntime.UnlockOSThread() // never left the agent's namespace
		return zero, fmt.Errorf("enter network namespace %s: %w", path, serr)
	}
	left := false
	leave := func() {
		if left {
			return
		}
		left = true
		if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil {
			goruntime.UnlockOSThread()
		}
	}
	v, err := create(leave)
	leave()
	return v, err
}
