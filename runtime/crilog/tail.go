package crilog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// chunkSize is the most raw bytes one step reads and turns into records;
// it bounds what a SIGKILL between writing records and committing them can
// repeat.
const chunkSize = 64 * 1024

// punchEvery is how many committed bytes a stream lets pass before it
// frees the blocks of what is already in the log.
const punchEvery = 1 << 20

// ErrTailerClosed is returned by Follow and Finish after Close.
var ErrTailerClosed = errors.New("log tailer closed")

// A Tailer follows log spools (see CreateSpool): when the shim appended
// to a stream's raw file, a goroutine reads what it appended, writes it to
// the CRI log file as records and commits the offset, then ends. One
// inotify instance wakes the streams; a quiet stream holds no goroutine
// (a node's streams are mostly quiet: two goroutines parked per container
// were a third of the agent's at 250 pods).
type Tailer struct {
	now   func() time.Time
	onErr func(dir string, err error)
	w     *fsnotify.Watcher

	mu     sync.Mutex
	spools map[string]*tailedSpool // by directory
	wakeOf map[string]*stream      // by raw file path
	closed bool
	wg     sync.WaitGroup // the dispatcher and the streams' drains
}

// NewTailer starts a Tailer. now stamps records (nil: time.Now); onErr,
// if set, hears of errors that have no caller to return to (a full disk
// while writing the log, a failed commit).
func NewTailer(now func() time.Time, onErr func(dir string, err error)) (*Tailer, error) {
	if now == nil {
		now = time.Now
	}
	if onErr == nil {
		onErr = func(string, error) {}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("log tailer: %w", err)
	}
	t := &Tailer{now: now, onErr: onErr, w: w, spools: map[string]*tailedSpool{}, wakeOf: map[string]*stream{}}
	t.wg.Add(1)
	go t.dispatch()
	return t, nil
}

// dispatch wakes the stream whose raw file changed; after a lost event
// (queue overflow) it wakes every stream.
func (t *Tailer) dispatch() {
	defer t.wg.Done()
	for {
		select {
		case ev, ok := <-t.w.Events:
			if !ok {
				return
			}
			t.mu.Lock()
			if st := t.wakeOf[ev.Name]; st != nil {
				st.wake()
			}
			t.mu.Unlock()
		case err, ok := <-t.w.Errors:
			if !ok {
				return
			}
			t.mu.Lock()
			for _, st := range t.wakeOf {
				st.wake()
			}
			t.mu.Unlock()
			t.onErr("", err)
		}
	}
}

// Follow starts following the spool in dir, from its committed offsets.
// Following a spool already followed does nothing. A dir without a spool
// is an error wrapping os.ErrNotExist.
func (t *Tailer) Follow(dir string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrTailerClosed
	}
	if t.spools[dir] != nil {
		return nil
	}
	files, err := openSpool(dir)
	if err != nil {
		return err
	}
	s := &tailedSpool{dir: dir, files: files}
	var added []string
	for i, name := range []string{Stdout, Stderr} {
		path := filepath.Join(dir, []string{spoolStdout, spoolStderr}[i])
		st := &stream{spool: s, slot: i, path: path, f: files.raw[i], off: files.start[i], committed: files.start[i],
			punched: files.start[i], rec: recorder{stream: name, now: t.now}, t: t}
		// Watch first, then read: nothing appended in between is missed.
		if err := t.w.Add(path); err != nil {
			for _, p := range added {
				_ = t.w.Remove(p)
				delete(t.wakeOf, p)
			}
			files.close()
			return fmt.Errorf("follow log spool %s: %w", dir, err)
		}
		added = append(added, path)
		t.wakeOf[path] = st
		s.streams[i] = st
	}
	t.spools[dir] = s
	for _, st := range s.streams {
		st.wake() // what was appended before the watch
	}
	return nil
}

// Finish drains the spool in dir to the end of both raw files, writes
// unterminated rests as P records, stops following it and removes dir. Call
// it once the task is gone (the shim has written everything). A spool not
// followed yet is followed first; a missing dir is not an error.
func (t *Tailer) Finish(dir string) error {
	if err := t.Follow(dir); errors.Is(err, os.ErrNotExist) {
		return os.RemoveAll(dir) // a spool created only in part
	} else if err != nil {
		return err
	}
	t.mu.Lock()
	s := t.spools[dir]
	t.mu.Unlock()
	for _, st := range s.streams {
		st.end(true)
	}
	t.forget(s)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove log spool: %w", err)
	}
	return s.err
}

// forget unregisters a spool whose streams ended and closes its files.
func (t *Tailer) forget(s *tailedSpool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, st := range s.streams {
		_ = t.w.Remove(st.path)
		delete(t.wakeOf, st.path)
	}
	delete(t.spools, s.dir)
	s.files.close()
}

// Followed is the number of spools being followed.
func (t *Tailer) Followed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.spools)
}

// Close stops following every spool without writing unterminated rests
// (they were not committed, so the next Tailer reads them again) and
// leaves the spools in place for the next agent.
func (t *Tailer) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	list := make([]*tailedSpool, 0, len(t.spools))
	for _, s := range t.spools {
		list = append(list, s)
	}
	t.mu.Unlock()
	for _, s := range list {
		for _, st := range s.streams {
			st.end(false)
		}
		t.forget(s)
	}
	err := t.w.Close()
	t.wg.Wait()
	return err
}

type tailedSpool struct {
	dir     string
	files   *spoolFiles
	streams [2]*stream
	logMu   sync.Mutex // one stream's chunk of records goes out in one write
	errMu   sync.Mutex
	err     error // first error of a stream, for Finish
}

func (s *tailedSpool) fail(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

type stream struct {
	spool *tailedSpool
	t     *Tailer
	slot  int // 0 stdout, 1 stderr
	path  string

	// busy: a drain goroutine runs or is about to; again: woken meanwhile,
	// so it drains once more before it ends.
	busy, again atomic.Bool

	mu        sync.Mutex // the drain's state, below
	ended     bool       // finished or stopped: no more drains
	flush     *time.Timer
	f         *os.File
	off       int64 // next raw byte to read
	committed int64 // raw bytes that are in the log as records
	punched   int64
	rec       recorder
	buf       []byte
}

// wake makes sure a drain runs after this call: it starts one unless one
// runs, which then goes round once more.
func (st *stream) wake() {
	st.again.Store(true)
	if !st.busy.CompareAndSwap(false, true) {
		return
	}
	st.t.wg.Add(1)
	go st.drainWhileWoken()
}

// drainWhileWoken drains until no wake came during the last drain.
func (st *stream) drainWhileWoken() {
	defer st.t.wg.Done()
	for {
		st.again.Store(false)
		st.mu.Lock()
		if !st.ended {
			st.report(st.drain())
			st.armFlush()
		}
		st.mu.Unlock()
		st.busy.Store(false)
		// A wake between the drain and clearing busy found busy set and
		// left it to this goroutine.
		if !st.again.Load() || !st.busy.CompareAndSwap(false, true) {
			return
		}
	}
}

// armFlush writes an unterminated rest as a P record after
// PartialFlushDelay unless a drain comes first. st.mu is held.
func (st *stream) armFlush() {
	if st.rec.pending() == 0 {
		if st.flush != nil {
			st.flush.Stop()
		}
		return
	}
	if st.flush == nil {
		st.flush = time.AfterFunc(PartialFlushDelay, st.flushPartial)
		return
	}
	st.flush.Reset(PartialFlushDelay)
}

func (st *stream) flushPartial() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended || st.rec.pending() == 0 {
		return
	}
	st.rec.flushPartial()
	st.report(st.write())
}

// end stops the stream: with finish, after draining to the end of the raw
// file and writing the unterminated rest. No drain runs after it returns.
func (st *stream) end(finish bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return
	}
	st.ended = true
	if st.flush != nil {
		st.flush.Stop()
	}
	if finish {
		st.report(st.drain())
		st.rec.flushPartial()
		st.report(st.write())
	}
}

func (st *stream) report(err error) {
	if err != nil {
		st.spool.fail(err)
		st.t.onErr(st.spool.dir, err)
	}
}

// drain turns everything appended so far into records, chunk by chunk.
// The read buffer is borrowed for the drain only and the records' buffer
// let go of when it grew past keepOut: a node's streams are mostly quiet,
// and a 64 KiB buffer kept by each of them made most of the agent's heap
// (35 MiB at 250 pods).
func (st *stream) drain() error {
	st.buf = chunkPool.Get().(*[chunkSize]byte)[:]
	defer func() {
		chunkPool.Put((*[chunkSize]byte)(st.buf))
		st.buf = nil
		if st.rec.out.Cap() > keepOut {
			st.rec.out = bytes.Buffer{}
		}
	}()
	for {
		n, err := st.step()
		if err != nil || n < chunkSize {
			return err
		}
	}
}

// chunkPool holds the streams' read buffers between drains.
var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// keepOut is the largest records buffer a stream keeps between drains.
const keepOut = 4 << 10

// step reads one chunk at the read offset, writes its records and commits;
// it returns the number of raw bytes read.
func (st *stream) step() (int, error) {
	n, err := st.f.ReadAt(st.buf, st.off)
	if n == 0 {
		if err == io.EOF {
			err = nil
		}
		return 0, err
	}
	st.off += int64(n)
	st.rec.feed(st.buf[:n])
	return n, st.write()
}

// write appends the records built so far to the log in one write, then
// commits the raw bytes they hold: the order makes a crash repeat records,
// never lose them. A failing log write still commits (as a log process
// would drop what it cannot write) so one full disk does not pin the raw
// files; the error is reported.
func (st *stream) write() error {
	var werr error
	if st.rec.out.Len() > 0 {
		st.spool.logMu.Lock()
		_, werr = st.spool.files.log.Write(st.rec.out.Bytes())
		st.spool.logMu.Unlock()
		st.rec.out.Reset()
	}
	c := st.off - int64(st.rec.pending())
	if c == st.committed {
		return werr
	}
	st.committed = c
	if err := writeOffset(st.spool.files.offsets, st.slot, c); err != nil {
		return errors.Join(werr, fmt.Errorf("commit log offset: %w", err))
	}
	if c-st.punched >= punchEvery {
		if err := punchHole(st.f, st.punched, c); err != nil {
			return errors.Join(werr, fmt.Errorf("free spooled log: %w", err))
		}
		st.punched = c &^ 4095
	}
	if werr != nil {
		return fmt.Errorf("write log: %w", werr)
	}
	return nil
}
