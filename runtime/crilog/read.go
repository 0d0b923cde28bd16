package crilog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// ReadOptions select what ReadLog writes.
type ReadOptions struct {
	// Timestamps prefixes each line with its RFC3339Nano timestamp and a space.
	Timestamps bool
	// TailLines writes only the last N lines already in the file; negative = all.
	TailLines int64
	// Follow keeps writing lines appended to the file until ctx ends or
	// StopFollow reports the writer is done.
	Follow bool
	// StopFollow returns true once nothing more will be written to the file
	// (the container exited); following then ends after draining the file.
	StopFollow func() bool
	// Since, if set, drops records written before it (kubelet's sinceSeconds/sinceTime).
	Since time.Time
	// Unjoined writes each partial record as soon as it is read instead of
	// joining it with the rest of its line, as an interactive session
	// needs (a shell's prompt has no newline). Without Timestamps only.
	Unjoined bool
}

// followPoll is how often a followed file is checked for new data.
const followPoll = 100 * time.Millisecond

// record is one parsed CRI log line.
type record struct {
	ts      []byte // timestamp as written
	stream  string
	partial bool
	content []byte
}

// parseRecord splits "<ts> <stream> <F|P> <content>" (without the newline).
func parseRecord(line []byte) (record, bool) {
	var r record
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return r, false
	}
	if _, err := time.Parse(time.RFC3339Nano, string(ts)); err != nil {
		return r, false
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return r, false
	}
	tag, content, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// "<ts> <stream> F" with nothing after it is an empty line.
		tag, content = rest, nil
	}
	switch string(tag) {
	case "F":
	case "P":
		r.partial = true
	default:
		return r, false
	}
	r.ts, r.stream, r.content = ts, string(stream), content
	return r, true
}

// joiner turns records into output lines, joining each stream's partial
// records with the record that completes them.
type joiner struct {
	timestamps bool
	unjoined   bool                     // write partial records as they come
	pending    map[string]*bytes.Buffer // stream -> line so far (with prefix)
}

func (j *joiner) add(r record) []byte {
	if j.unjoined && !j.timestamps {
		if r.partial {
			return append([]byte(nil), r.content...)
		}
		return append(append([]byte(nil), r.content...), '\n')
	}
	buf := j.pending[r.stream]
	if buf == nil {
		buf = &bytes.Buffer{}
		if j.timestamps {
			buf.WriteString(formatTimestamp(r.ts))
			buf.WriteByte(' ')
		}
		j.pending[r.stream] = buf
	}
	buf.Write(r.content)
	if r.partial {
		return nil
	}
	delete(j.pending, r.stream)
	buf.WriteByte('\n')
	return buf.Bytes()
}

// leftovers returns partial lines never completed (written without newline).
func (j *joiner) leftovers() [][]byte {
	var out [][]byte
	for _, s := range []string{"stdout", "stderr"} {
		if b := j.pending[s]; b != nil {
			out = append(out, b.Bytes())
		}
	}
	j.pending = map[string]*bytes.Buffer{}
	return out
}

func formatTimestamp(ts []byte) string {
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return string(ts)
	}
	return t.Format(time.RFC3339Nano)
}

// logReader reads whole lines from a log file that may still be growing.
type logReader struct {
	since time.Time
	f     *os.File
	carry []byte // an unterminated last line, kept until its newline arrives
	chunk []byte
	j     *joiner
}

// next reads what is available and calls emit for each finished output
// line. It reports whether any bytes were read.
func (lr *logReader) next(emit func([]byte)) (bool, error) {
	got := false
	for {
		n, err := lr.f.Read(lr.chunk)
		if n > 0 {
			got = true
			data := append(lr.carry, lr.chunk[:n]...)
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					break
				}
				lr.line(data[:i], emit)
				data = data[i+1:]
			}
			lr.carry = append(lr.carry[:0:0], data...)
		}
		if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}

func (lr *logReader) line(raw []byte, emit func([]byte)) {
	if r, ok := parseRecord(raw); ok {
		if !lr.since.IsZero() {
			if ts, err := time.Parse(time.RFC3339Nano, string(r.ts)); err == nil && ts.Before(lr.since) {
				return
			}
		}
		if out := lr.j.add(r); out != nil {
			emit(out)
		}
	}
}

// finish parses an unterminated last line and emits unfinished partials.
func (lr *logReader) finish(emit func([]byte)) {
	if len(lr.carry) > 0 {
		lr.line(lr.carry, emit)
		lr.carry = nil
	}
	for _, b := range lr.j.leftovers() {
		emit(b)
	}
}

// ReadLog writes the CRI log file at path to w as plain lines (stream tags
// dropped, partial records joined), honouring opts. Malformed lines are
// skipped. With Follow it returns nil once StopFollow reports true and the
// file is drained, or ctx's error when ctx ends first.
func ReadLog(ctx context.Context, path string, opts ReadOptions, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open log %s: %w", path, err)
	}
	defer func() { f.Close() }()
	lr := &logReader{since: opts.Since, f: f, chunk: make([]byte, 32<<10), j: &joiner{timestamps: opts.Timestamps, unjoined: opts.Unjoined, pending: map[string]*bytes.Buffer{}}}

	var out bytes.Buffer
	emit := func(b []byte) { out.Write(b) }
	flush := func() error {
		if out.Len() == 0 {
			return nil
		}
		_, err := w.Write(out.Bytes())
		out.Reset()
		return err
	}

	// What is in the file now, possibly only its tail.
	if opts.TailLines >= 0 {
		var lines [][]byte
		keep := int(opts.TailLines)
		// Drop lines that cannot be in the tail now and then; for a huge
		// keep, 2*keep+64 would overflow (and such a tail is never trimmed).
		trimAt := math.MaxInt
		if keep <= (math.MaxInt-64)/2 {
			trimAt = 2*keep + 64
		}
		tailEmit := func(b []byte) {
			if keep == 0 {
				return
			}
			lines = append(lines, append([]byte(nil), b...))
			if len(lines) > trimAt {
				lines = append(lines[:0], lines[len(lines)-keep:]...)
			}
		}
		if _, err := lr.next(tailEmit); err != nil {
			return fmt.Errorf("read log %s: %w", path, err)
		}
		if !opts.Follow {
			lr.finish(tailEmit)
		}
		if len(lines) > keep {
			lines = lines[len(lines)-keep:]
		}
		for _, l := range lines {
			out.Write(l)
		}
	} else if _, err := lr.next(emit); err != nil {
		return fmt.Errorf("read log %s: %w", path, err)
	}
	if !opts.Follow {
		if opts.TailLines < 0 {
			lr.finish(emit)
		}
		return flush()
	}
	if err := flush(); err != nil {
		return err
	}

	for {
		stop := opts.StopFollow != nil && opts.StopFollow()
		got, err := lr.next(emit)
		if err != nil {
			return fmt.Errorf("read log %s: %w", path, err)
		}
		if err := flush(); err != nil {
			return err
		}
		if got {
			continue
		}
		if stop {
			lr.finish(emit)
			return flush()
		}
		if rotated(f, path) {
			nf, err := os.Open(path)
			if err == nil {
				f.Close()
				f, lr.f = nf, nf
				continue
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(followPoll):
		}
	}
}

// rotated reports whether path now names a different file than f.
func rotated(f *os.File, path string) bool {
	cur, err := f.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(path)
	return err == nil && !os.SameFile(cur, now)
}
