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

// NewWriter returns a writer that turns the raw byte stream written to it into
// CRI log records for stream (Stdout or Stderr) on w. Every record is handed
// to w in a single Write call, so several writers can share one destination
// safely when w serialises its writes. now supplies record timestamps (they
// are converted to UTC). Close flushes a trailing unterminated line as a P
// record; it does not close w.
func NewWriter(w io.Writer, stream string, now func() time.Time) io.WriteCloser {
	if now == nil {
		now = time.Now
	}
	return &writer{out: w, stream: stream, now: now}
}

type writer struct {
	mu     sync.Mutex
	out    io.Writer
	stream string
	now    func() time.Time
	buf    []byte // content of the current, not yet terminated line
	rec    bytes.Buffer
	closed bool
	err    error       // first error from out; later writes still drain input
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
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			p = nil
		} else {
			w.buf = append(w.buf, p[:i]...)
			p = p[i+1:]
		}
		for len(w.buf) > MaxLineSize {
			w.emit(TagPartial, w.buf[:MaxLineSize])
			w.buf = append(w.buf[:0], w.buf[MaxLineSize:]...)
		}
		if i >= 0 {
			w.emit(TagFull, bytes.TrimSuffix(w.buf, []byte{'\r'}))
			w.buf = w.buf[:0]
		}
	}
	// What is left of an unterminated line is written as a P record if
	// nothing follows within PartialFlushDelay: the container may stay
	// silent (or be stopped) long before its stream ends, and readers join
	// P records with what follows.
	if w.flush != nil {
		w.flush.Stop()
		w.flush = nil
	}
	if len(w.buf) > 0 {
		w.flush = time.AfterFunc(PartialFlushDelay, w.flushPartial)
	}
	return n, w.err
}

// PartialFlushDelay is how long an unterminated line waits for its rest
// before it is written as a P record.
const PartialFlushDelay = 200 * time.Millisecond

func (w *writer) flushPartial() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed && len(w.buf) > 0 {
		w.emit(TagPartial, w.buf)
		w.buf = w.buf[:0]
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
	if len(w.buf) > 0 {
		w.emit(TagPartial, w.buf)
		w.buf = nil
	}
	return w.err
}

func (w *writer) emit(tag string, content []byte) {
	w.rec.Reset()
	w.rec.WriteString(w.now().UTC().Format(TimestampFormat))
	w.rec.WriteByte(' ')
	w.rec.WriteString(w.stream)
	w.rec.WriteByte(' ')
	w.rec.WriteString(tag)
	w.rec.WriteByte(' ')
	w.rec.Write(content)
	w.rec.WriteByte('\n')
	if _, err := w.out.Write(w.rec.Bytes()); err != nil && w.err == nil {
		w.err = err
	}
}
