package crilog

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// fixedClock returns t, t+1ns, t+2ns, ... so record order is visible.
func fixedClock(t time.Time) func() time.Time {
	n := 0
	return func() time.Time { n++; return t.Add(time.Duration(n-1) * time.Nanosecond) }
}

func TestWriterRecords(t *testing.T) {
	base := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("X", 3600))
	ts := func(i int) string { return base.Add(time.Duration(i)).UTC().Format(TimestampFormat) }
	long := strings.Repeat("a", MaxLineSize)
	tests := []struct {
		name   string
		stream string
		writes []string
		want   []string // records, without the trailing newline
	}{
		{"one line", Stdout, []string{"hello\n"}, []string{ts(0) + " stdout F hello"}},
		{"two lines one write", Stderr, []string{"a\nb\n"}, []string{ts(0) + " stderr F a", ts(1) + " stderr F b"}},
		{"line across writes", Stdout, []string{"he", "l", "lo\nwor", "ld\n"}, []string{ts(0) + " stdout F hello", ts(1) + " stdout F world"}},
		{"empty line", Stdout, []string{"\n"}, []string{ts(0) + " stdout F "}},
		{"crlf stripped", Stdout, []string{"dos\r\n"}, []string{ts(0) + " stdout F dos"}},
		{"unterminated at close is partial", Stdout, []string{"x\ntail"}, []string{ts(0) + " stdout F x", ts(1) + " stdout P tail"}},
		{"exactly max is full", Stdout, []string{long + "\n"}, []string{ts(0) + " stdout F " + long}},
		{"max plus one splits", Stdout, []string{long + "b\n"}, []string{ts(0) + " stdout P " + long, ts(1) + " stdout F b"}},
		{"two max chunks then rest", Stdout, []string{long, long, "cc\n"}, []string{ts(0) + " stdout P " + long, ts(1) + " stdout P " + long, ts(2) + " stdout F cc"}},
		{"nothing written", Stdout, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out, tc.stream, fixedClock(base))
			for _, s := range tc.writes {
				n, err := w.Write([]byte(s))
				if err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var want string
			for _, r := range tc.want {
				want += r + "\n"
			}
			if got := out.String(); got != want {
				t.Errorf("got\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestWriterTimestampIsRFC3339NanoUTC(t *testing.T) {
	var out bytes.Buffer
	at := time.Date(2024, 1, 2, 3, 4, 5, 600, time.FixedZone("CET", 3600))
	w := NewWriter(&out, Stdout, func() time.Time { return at })
	_, _ = w.Write([]byte("x\n"))
	ts, _, _ := strings.Cut(out.String(), " ")
	if ts != "2024-01-02T02:04:05.000000600Z" {
		t.Fatalf("timestamp %q", ts)
	}
	parsed, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || !parsed.Equal(at) {
		t.Fatalf("parse %q: %v %v", ts, parsed, err)
	}
}

func TestWriterWriteAfterClose(t *testing.T) {
	w := NewWriter(&bytes.Buffer{}, Stdout, nil)
	_ = w.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after close succeeded")
	}
}

type failWriter struct{ calls int }

func (f *failWriter) Write(p []byte) (int, error) { f.calls++; return 0, errors.New("disk full") }

func TestWriterKeepsDrainingOnDestinationError(t *testing.T) {
	f := &failWriter{}
	w := NewWriter(f, Stdout, nil)
	n, err := w.Write([]byte("a\nb\n"))
	if n != 4 || err == nil {
		t.Fatalf("Write = %d, %v; want 4 and an error", n, err)
	}
	// The records of one input Write go out in one destination Write.
	if n, err := w.Write([]byte("c\n")); n != 2 || err == nil {
		t.Fatalf("second Write = %d, %v; want 2 and the first error", n, err)
	}
	if f.calls != 2 {
		t.Fatalf("destination called %d times, want 2 (one per input Write)", f.calls)
	}
}

func TestWriterFlushesIdlePartialLine(t *testing.T) {
	var out bytes.Buffer
	lw := &lockedWriter{w: &out}
	mu := &lw.mu
	w := NewWriter(lw, Stdout, func() time.Time { return time.Unix(0, 0) })
	if _, err := w.Write([]byte("done\nprompt> ")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := out.String()
	mu.Unlock()
	if strings.Contains(got, "prompt") {
		t.Fatalf("partial line written at once: %q", got)
	}
	time.Sleep(PartialFlushDelay + 100*time.Millisecond)
	mu.Lock()
	got = out.String()
	mu.Unlock()
	want := "1970-01-01T00:00:00.000000000Z stdout F done\n1970-01-01T00:00:00.000000000Z stdout P prompt> \n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The rest of the line continues in a later record; Close adds nothing.
	_, _ = w.Write([]byte("yes\n"))
	_ = w.Close()
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasSuffix(out.String(), "stdout F yes\n") {
		t.Fatalf("got %q", out.String())
	}
}
