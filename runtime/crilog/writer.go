package crilog

import (
	"bytes"
	"io"
	"sync"
	"time"
)

// Stream names used in CRI log records.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Tags of CRI log records.
const (
	TagFull    = "F"
	TagPartial = "P"
)

// MaxLineSize is the longest content of one record (the kubelet's default
// container log line limit). Longer lines are split into P records.
const MaxLineSize = 16 * 1024

// TimestampFormat is the record timestamp layout: RFC3339Nano with a fixed
// nine-digit fraction so records sort and align lexically.
const TimestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// recorder turns a raw byte stream into CRI records, appended to out. It
// keeps the content of the current, not yet terminated line in buf; both
// the timer-driven writer below and the spool follower (tail.go) drive it.
type recorder struct {
	stream string
	now    func() time.Time
	buf    []byte // content of the current, not yet terminated line
	out    bytes.Buffer
}

// feed consumes p: one F record per complete line, P records for every
// MaxLineSize bytes of an over-long line; an unterminated rest stays in buf.
func (r *recorder) feed(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.buf = append(r.buf, p...)
			p = nil
		} else {
			r.buf = append(r.buf, p[:i]...)
			p = p[i+1:]
		}
		for len(r.buf) > MaxLineSize {
			r.emit(TagPartial, r.buf[:MaxLineSize])
			r.buf = append(r.buf[:0], r.buf[MaxLineSize:]...)
		}
		if i >= 0 {
			r.emit(TagFull, bytes.TrimSuffix(r.buf, []byte{'\r'}))
			r.buf = r.buf[:0]
		}
	}
}

// flushPartial writes the unterminated rest, if any, as a P record.
func (r *recorder) flushPartial() {
	if len(r.buf) > 0 {
		r.emit(TagPartial, r.buf)
		r.buf = r.buf[:0]
	}
}

// pending is the number of input bytes consumed but not yet in a record.
func (r *recorder) pending() int { return len(r.buf) }

func (r *recorder) emit(tag string, content []byte) {
	r.out.WriteString(r.now().UTC().Format(TimestampFormat))
	r.out.WriteByte(' ')
	r.out.WriteString(r.stream)
	r.out.WriteByte(' ')
	r.out.WriteString(tag)
	r.out.WriteByte(' ')
	r.out.Write(content)
	r.out.WriteByte('\n')
}

// NewWriter returns a writer that turns the raw byte stream written to it into
// CRI log records for stream (Stdout or Stderr) on w. Every Write to w holds
// whole records only (those of one input Write), so several writers can
// share one destination safely when w serialises its writes. now supplies
// record timestamps (they are converted to UTC). Close flushes a trailing
// unterminated line as a P record; it does not close w.
func NewWriter(w io.Writer, stream string, now func() time.Time) io.WriteCloser {
	if now == nil {
		now = time.Now
	}
	return &writer{dst: w, rec: recorder{stream: stream, now: now}}
}

type writer struct {
	mu     sync.Mutex
	dst    io.Writer
	rec    recorder
	closed bool
	err    error       // first error from dst; later writes still drain input
	flush  *time.Timer // pending write of an unterminated line
}

// Write consumes p, emitting one record per complete line and P records for
// every MaxLineSize bytes of an over-long line; an unterminated rest is
// written as a P record after PartialFlushDelay without more input. It always reports len(p)
// consumed unless the writer is closed, so a failing destination never
// blocks the container; the first destination error is returned.
func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	w.rec.feed(p)
	w.send()
	// What is left of an unterminated line is written as a P record if
	// nothing follows within PartialFlushDelay: the container may stay
	// silent (or be stopped) long before its stream ends, and readers join
	// P records with what follows.
	if w.flush != nil {
		w.flush.Stop()
		w.flush = nil
	}
	if w.rec.pending() > 0 {
		w.flush = time.AfterFunc(PartialFlushDelay, w.flushPartial)
	}
	return len(p), w.err
}

// PartialFlushDelay is how long an unterminated line waits for its rest
// before it is written as a P record.
const PartialFlushDelay = 200 * time.Millisecond

func (w *writer) flushPartial() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.rec.flushPartial()
		w.send()
	}
}

// Close writes what is left of an unterminated line as a P record.
func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if w.flush != nil {
		w.flush.Stop()
	}
	w.rec.flushPartial()
	w.send()
	return w.err
}

// send hands the records built so far to dst in one Write.
func (w *writer) send() {
	if w.rec.out.Len() == 0 {
		return
	}
	if _, err := w.dst.Write(w.rec.out.Bytes()); err != nil && w.err == nil {
		w.err = err
	}
	w.rec.out.Reset()
}
