package crilog

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readLogTimeout bounds one ReadLog call of the fuzz target; a call that
// takes longer counts as a hang.
const readLogTimeout = 10 * time.Second

// FuzzReadLog writes arbitrary bytes to a log file and reads it back with
// ReadLog under arbitrary options. ReadLog must not panic or hang, and what
// it writes must be exactly what wantLog (a plain restatement of the format
// in doc.go) derives from the input: every output byte comes from a record
// of the file, or is a timestamp prefix or the newline of a complete line.
// With Follow the writer is reported done from the start, so ReadLog reads
// the file once and returns.
func FuzzReadLog(f *testing.F) {
	f.Add([]byte(sample), int64(-1), false, false)
	f.Add([]byte(sample), int64(2), true, false)
	f.Add([]byte(sample), int64(0), false, true)
	f.Add([]byte(sample), int64(3), true, true)
	f.Add([]byte("2024-01-02T03:04:05Z stdout P a\n2024-01-02T03:04:05Z stderr P b"), int64(1), false, true)
	f.Add([]byte("2024-01-02T03:04:05+01:00 stderr F x\r\n\n\n2024-01-02T03:04:05.5Z stdout F"), int64(-5), true, false)
	f.Add([]byte("2024-01-02T03:04:05Z stdout F "+strings.Repeat("x", 40<<10)+"\n2024-01-02T03:04:06Z stdout F y\n"), int64(1), true, false)
	// Tails so large that 2*TailLines+64 overflowed in ReadLog and sliced
	// out of range: at the first line for 1<<62, at the 63rd for MaxInt64.
	f.Add([]byte(sample), int64(1)<<62, false, false)
	f.Add([]byte(strings.Repeat("2024-01-02T03:04:05Z stdout F line\n", 70)), int64(math.MaxInt64), false, false)

	f.Fuzz(func(t *testing.T, content []byte, tail int64, timestamps, follow bool) {
		path := filepath.Join(t.TempDir(), "0.log")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		opts := ReadOptions{TailLines: tail, Timestamps: timestamps, Follow: follow, StopFollow: func() bool { return true }}
		ctx, cancel := context.WithTimeout(context.Background(), readLogTimeout)
		defer cancel()
		var got bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- ReadLog(ctx, path, opts, &got) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(readLogTimeout + time.Second):
			t.Fatalf("ReadLog(%+v) did not return within %v", opts, readLogTimeout)
		}
		if err != nil {
			t.Fatalf("ReadLog(%+v): %v", opts, err)
		}
		if want := wantLog(content, opts); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("ReadLog(%+v) wrote\n%q\nwant\n%q", opts, got.Bytes(), want)
		}
	})
}

// wantLog is what ReadLog should write for a file holding content that is
// not growing. The unit is an output line: a complete record, partial
// records joined with the record completing them (per stream), or, at the
// end of the file, a partial line never completed (without newline).
// TailLines counts those units. With Follow the tail is taken before the
// end of the file is known to be final, so what the unterminated last line
// and unfinished partials make is written after the tail, not counted in it.
func wantLog(content []byte, opts ReadOptions) []byte {
	lines := bytes.Split(content, []byte{'\n'})
	last := lines[len(lines)-1] // "" when content ends in a newline
	lines = lines[:len(lines)-1]

	pending := map[string][]byte{}
	var units [][]byte
	add := func(line []byte) {
		f := bytes.SplitN(line, []byte{' '}, 4)
		if len(f) < 3 {
			return
		}
		ts, err := time.Parse(time.RFC3339Nano, string(f[0]))
		stream, tag := string(f[1]), string(f[2])
		if err != nil || (stream != "stdout" && stream != "stderr") || (tag != "F" && tag != "P") {
			return
		}
		buf, ok := pending[stream]
		if !ok {
			buf = []byte{}
			if opts.Timestamps {
				buf = append(buf, ts.Format(time.RFC3339Nano)+" "...)
			}
		}
		if len(f) == 4 {
			buf = append(buf, f[3]...)
		}
		if tag == "P" {
			pending[stream] = buf
			return
		}
		delete(pending, stream)
		units = append(units, append(buf, '\n'))
	}
	for _, l := range lines {
		add(l)
	}
	complete := len(units)
	if len(last) > 0 {
		add(last)
	}
	for _, s := range []string{"stdout", "stderr"} {
		if b, ok := pending[s]; ok {
			units = append(units, b)
		}
	}

	var out []byte
	switch {
	case opts.TailLines < 0:
		out = bytes.Join(units, nil)
	case opts.Follow:
		out = bytes.Join(tailOf(units[:complete], opts.TailLines), nil)
		out = append(out, bytes.Join(units[complete:], nil)...)
	default:
		out = bytes.Join(tailOf(units, opts.TailLines), nil)
	}
	if out == nil {
		out = []byte{}
	}
	return out
}

func tailOf(units [][]byte, n int64) [][]byte {
	if n < int64(len(units)) {
		return units[len(units)-int(n):]
	}
	return units
}
