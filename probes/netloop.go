package probes

import (
	"container/heap"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"
)

// The network loop runs the plain network probes of a Manager (HTTP to an
// IP address and TCP; see planFor) on one goroutine: it keeps their
// schedule (worker.run's, tick for tick) and drives their sockets itself,
// non-blocking, through an epoll instance of its own that it waits on in
// a system call (see wait). A worker goroutine per probe cost a timer wake-up, a
// park on the poller and a second wake-up per probe, plus the poller's
// bookkeeping for each socket; here a grid tick wakes one goroutine that
// makes all the tick's sockets (entering each pod's namespace in turn and
// going back to the agent's once), connects and writes them, and is woken
// again when answers are there. What is not plain is not decided here: a
// redirect, an answer http.ReadResponse must read, a write that would
// block or a read error before the head hands the connection to a
// goroutine that finishes the probe with the code the worker goroutines
// use (getFollowingRedirects), so results and messages stay the same.
// Settling a result (worker.settle) runs on the loop only when it is a
// steady success, which changes nothing; other results are settled on a
// goroutine of their own, since events and kills call into the agent.
//
// The loop's goroutine ends when it has no probes left; the next probe
// starts it again.

// netLoop is the Manager's handle on its loop.
type netLoop struct {
	m  *Manager
	dc clock.WithDelayedExecution

	mu    sync.Mutex
	inbox []loopMsg
	st    *loopState // the running loop's, nil when none runs
}

type msgKind int

const (
	msgAdd     msgKind = iota // a new worker
	msgStop                   // the worker was stopped
	msgTrigger                // probe now (readiness after startup passed)
	msgResult                 // a probe finished off the loop
	msgSettled                // a result was settled off the loop
)

type loopMsg struct {
	kind   msgKind
	w      *worker
	out    outcome // msgResult
	output string
	err    error
	keep   bool // msgSettled: worker.settle's answer
}

// newNetLoop returns a loop for m, or nil when m's clock cannot run a
// function later (the loop's only timer is such a function).
func newNetLoop(m *Manager) *netLoop {
	dc, ok := m.clock.(clock.WithDelayedExecution)
	if !ok {
		return nil
	}
	return &netLoop{m: m, dc: dc}
}

// add hands w to the loop, starting the loop if none runs; false if it
// could not be started (w then needs a goroutine of its own).
func (l *netLoop) add(w *worker) bool {
	w.onLoop = true
	if !l.post(loopMsg{kind: msgAdd, w: w}) {
		w.onLoop = false
		return false
	}
	return true
}

// post queues msg for the loop and wakes it; false if no loop ran and none
// could be started.
func (l *netLoop) post(msg loopMsg) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		st, err := newLoopState(l)
		if err != nil {
			l.m.log.Warn("network probe loop could not start; probing from worker goroutines", "error", err)
			return false
		}
		l.st = st
		l.inbox = append(l.inbox, msg)
		go st.main()
		return true
	}
	l.inbox = append(l.inbox, msg)
	l.st.wakeLocked()
	return true
}

// loopState is one run of the loop goroutine; only that goroutine uses it,
// save wakeLocked (under netLoop.mu).
type loopState struct {
	l     *netLoop
	m     *Manager
	epfd  int  // the loop's epoll instance (see wait)
	evfd  int  // an eventfd in epfd: written to wake the loop
	woken bool // evfd was written and not yet read (under netLoop.mu)
	timer clock.Timer

	probes   map[*worker]*loopProbe
	timed    timedHeap         // probes waiting for a time: a tick or a deadline
	runs     map[int32]*netRun // by socket
	starting []*loopProbe      // attempts to start in this round
	spare    []*loopProbe
	msgs     []loopMsg
	events   []unix.EpollEvent
	bufs     [][]byte
	// threadBad: the thread could not go back to the agent's namespace
	// and stays locked; the loop goes on on a new goroutine.
	threadBad bool
}

func newLoopState(l *netLoop) (*loopState, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &loopState{l: l, m: l.m, epfd: epfd, evfd: evfd,
		probes: map[*worker]*loopProbe{}, runs: map[int32]*netRun{},
		events: make([]unix.EpollEvent, 64)}, nil
}

// wakeLocked wakes the loop; netLoop.mu is held.
func (s *loopState) wakeLocked() {
	if s.woken {
		return
	}
	s.woken = true
	one := [8]byte{1}
	_, _ = unix.Write(s.evfd, one[:])
}

// wake is the timer's function.
func (s *loopState) wake() {
	s.l.mu.Lock()
	if s.l.st == s {
		s.wakeLocked()
	}
	s.l.mu.Unlock()
}

func (s *loopState) main() {
	for {
		s.takeInbox()
		s.fire()
		s.startAttempts()
		if s.threadBad {
			s.threadBad = false
			go s.main() // this goroutine ends with its thread locked: the runtime ends the thread
			return
		}
		if s.exit() {
			return
		}
		if len(s.timed) > 0 && !s.timed[0].at.After(s.m.clock.Now()) {
			continue
		}
		s.arm()
		s.wait()
	}
}

// takeInbox handles the messages posted since the last round.
func (s *loopState) takeInbox() {
	s.l.mu.Lock()
	s.msgs, s.l.inbox = s.l.inbox, s.msgs[:0]
	s.woken = false
	s.l.mu.Unlock()
	now := s.m.clock.Now()
	for i := range s.msgs {
		msg := &s.msgs[i]
		switch msg.kind {
		case msgAdd:
			s.addProbe(msg.w, now)
		case msgStop:
			if lp := s.probes[msg.w]; lp != nil {
				lp.stopped = true
				if !lp.away {
					s.drop(lp)
				}
			}
		case msgTrigger:
			if lp := s.probes[msg.w]; lp != nil {
				s.trigger(lp, now)
			}
		case msgResult:
			if lp := s.probes[msg.w]; lp != nil {
				lp.away = false
				s.attemptDone(lp, msg.out, msg.output, msg.err)
			}
		case msgSettled:
			if lp := s.probes[msg.w]; lp != nil {
				lp.away = false
				s.settled(lp, msg.keep, s.m.clock.Now())
			}
		}
		*msg = loopMsg{}
	}
}

// fire acts on every probe whose time has come: a tick, the first probe
// or a deadline of the attempt in flight.
func (s *loopState) fire() {
	now := s.m.clock.Now()
	for len(s.timed) > 0 && !s.timed[0].at.After(now) {
		lp := heap.Pop(&s.timed).(*loopProbe)
		if lp.run != nil {
			s.expired(lp.run)
			continue
		}
		s.due(lp, now)
	}
}

// exit ends the loop when it has nothing left to do.
func (s *loopState) exit() bool {
	s.l.mu.Lock()
	if len(s.l.inbox) > 0 || len(s.probes) > 0 {
		s.l.mu.Unlock()
		return false
	}
	s.l.st = nil
	s.l.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
	unix.Close(s.epfd)
	unix.Close(s.evfd)
	return true
}

// arm sets the timer for the earliest probe time.
func (s *loopState) arm() {
	if len(s.timed) == 0 {
		if s.timer != nil {
			s.timer.Stop()
		}
		return
	}
	// A new timer each time: a fake clock's AfterFunc timer fires only
	// once (its unread channel blocks a second firing).
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = s.l.dc.AfterFunc(s.timed[0].at.Sub(s.m.clock.Now()), s.wake)
}

// wait blocks in epoll_wait until epfd has events (the timer and posts
// write evfd), and handles them. The wait is a system call of the loop's
// thread, not a park on the runtime's poller: with epfd on the poller,
// every answer that came while the loop was busy woke an idle thread of
// the runtime (its epoll instance holds epfd, edge-triggered) to find
// nothing to run; a wait of its own wakes only the loop, once.
func (s *loopState) wait() {
	n, err := unix.EpollWait(s.epfd, s.events, -1)
	if err != nil {
		return // EINTR: the loop goes round and waits again
	}
	for _, ev := range s.events[:n] {
		if int(ev.Fd) == s.evfd {
			var b [8]byte
			_, _ = unix.Read(s.evfd, b[:])
			continue
		}
		if r := s.runs[ev.Fd]; r != nil {
			s.ready(r)
		}
	}
}

// timedHeap orders probes by their time.
type timedHeap []*loopProbe

func (h timedHeap) Len() int           { return len(h) }
func (h timedHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timedHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *timedHeap) Push(x any) {
	lp := x.(*loopProbe)
	lp.idx = len(*h)
	*h = append(*h, lp)
}
func (h *timedHeap) Pop() any {
	old := *h
	lp := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	lp.idx = -1
	return lp
}

// at puts lp in the heap for time t (moving it if it is there).
func (s *loopState) at(lp *loopProbe, t time.Time) {
	lp.at = t
	if lp.idx >= 0 {
		heap.Fix(&s.timed, lp.idx)
		return
	}
	heap.Push(&s.timed, lp)
}

// untime takes lp out of the heap.
func (s *loopState) untime(lp *loopProbe) {
	if lp.idx >= 0 {
		heap.Remove(&s.timed, lp.idx)
	}
}
