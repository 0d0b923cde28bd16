package crilog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const sample = `2024-01-02T03:04:05.000000001Z stdout F hello
2024-01-02T03:04:05.100000000Z stderr P par
garbage line
2024-01-02T03:04:05.200000000Z stdout P a
2024-01-02T03:04:05.300000000Z stderr P tial
2024-01-02T03:04:05.400000000Z stdout F b
2024-01-02T03:04:05.500000000Z stderr F  done
not-a-time stdout F skipped
2024-01-02T03:04:05.600000000Z stdin F skipped
2024-01-02T03:04:05.700000000Z stdout X skipped
2024-01-02T03:04:05.800000000Z stdout F
2024-01-02T03:04:05.900000000Z stdout F last line
`

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadLog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		opts    ReadOptions
		want    string
	}{
		{"all", sample, ReadOptions{TailLines: -1}, "hello\nab\npartial done\n\nlast line\n"},
		{"tail 2", sample, ReadOptions{TailLines: 2}, "\nlast line\n"},
		{"tail 0", sample, ReadOptions{TailLines: 0}, ""},
		{"tail more than there is", sample, ReadOptions{TailLines: 100}, "hello\nab\npartial done\n\nlast line\n"},
		{"timestamps", sample, ReadOptions{TailLines: 3, Timestamps: true},
			"2024-01-02T03:04:05.1Z partial done\n2024-01-02T03:04:05.8Z \n2024-01-02T03:04:05.9Z last line\n"},
		{"first line timestamp", sample, ReadOptions{TailLines: -1, Timestamps: true},
			"2024-01-02T03:04:05.000000001Z hello\n2024-01-02T03:04:05.2Z ab\n2024-01-02T03:04:05.1Z partial done\n2024-01-02T03:04:05.8Z \n2024-01-02T03:04:05.9Z last line\n"},
		{"unfinished partial and no final newline", "2024-01-02T03:04:05Z stdout F x\n2024-01-02T03:04:05Z stdout P y\n2024-01-02T03:04:06Z stdout F z", ReadOptions{TailLines: -1}, "x\nyz\n"},
		{"dangling partial", "2024-01-02T03:04:05Z stdout F x\n2024-01-02T03:04:05Z stdout P tail", ReadOptions{TailLines: -1}, "x\ntail"},
		{"empty", "", ReadOptions{TailLines: -1}, ""},
		{"since", sample, ReadOptions{TailLines: -1, Since: time.Date(2024, 1, 2, 3, 4, 5, 750_000_000, time.UTC)}, "\nlast line\n"},
		{"unjoined: partial records as they come", sample, ReadOptions{TailLines: -1, Unjoined: true}, "hello\nparatialb\n done\n\nlast line\n"},
		{"unjoined prompt", "2024-01-02T03:04:05Z stdout F x\n2024-01-02T03:04:05Z stdout P / # ", ReadOptions{TailLines: -1, Unjoined: true}, "x\n/ # "},
		{"since and tail", sample, ReadOptions{TailLines: 1, Since: time.Date(2024, 1, 2, 3, 4, 5, 750_000_000, time.UTC)}, "last line\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := ReadLog(context.Background(), writeFile(t, tc.content), tc.opts, &buf); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.want {
				t.Errorf("got %q\nwant %q", buf.String(), tc.want)
			}
		})
	}
}

func TestReadLogMissing(t *testing.T) {
	err := ReadLog(context.Background(), filepath.Join(t.TempDir(), "nope.log"), ReadOptions{TailLines: -1}, &bytes.Buffer{})
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// syncBuf is a writer the test can read while ReadLog writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, s *syncBuf, want string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for s.String() != want {
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want %q", s.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadLogFollowEndsWhenWriterDone(t *testing.T) {
	p := writeFile(t, "2024-01-02T03:04:05Z stdout F one\n2024-01-02T03:04:05Z stdout F two\n")
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var done atomic.Bool
	out := &syncBuf{}
	errc := make(chan error, 1)
	go func() {
		errc <- ReadLog(context.Background(), p, ReadOptions{TailLines: 1, Follow: true, StopFollow: done.Load}, out)
	}()
	waitFor(t, out, "two\n")
	// A record arriving in two writes, the first without its newline.
	f.WriteString("2024-01-02T03:04:06Z stdout P thr")
	time.Sleep(3 * followPoll / 2)
	f.WriteString("ee\n2024-01-02T03:04:06Z stdout F !\n")
	waitFor(t, out, "two\nthree!\n")
	select {
	case err := <-errc:
		t.Fatalf("follow ended early: %v", err)
	default:
	}
	// The writer finishes: what it wrote last is still delivered.
	f.WriteString("2024-01-02T03:04:07Z stderr F bye\n")
	done.Store(true)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("follow did not end after StopFollow returned true")
	}
	if got := out.String(); got != "two\nthree!\nbye\n" {
		t.Errorf("output %q", got)
	}
}

func TestReadLogFollowContextAndRotation(t *testing.T) {
	p := writeFile(t, "2024-01-02T03:04:05Z stdout F old\n")
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuf{}
	errc := make(chan error, 1)
	go func() { errc <- ReadLog(ctx, p, ReadOptions{TailLines: -1, Follow: true}, out) }()
	waitFor(t, out, "old\n")
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("2024-01-02T03:04:06Z stdout F new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "old\nnew\n")
	cancel()
	select {
	case err := <-errc:
		if err != context.Canceled {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("follow did not end with ctx")
	}
	if strings.Count(out.String(), "old") != 1 {
		t.Errorf("old file read twice: %q", out.String())
	}
}
