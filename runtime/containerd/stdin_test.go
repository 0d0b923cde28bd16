package containerd

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/miniagent/miniagent/runtime"
)

func TestStdinLabel(t *testing.T) {
	for _, tc := range []struct {
		stdin, once bool
		want        string
	}{
		{false, false, ""},
		{false, true, ""}, // stdinOnce means nothing without stdin, as in Kubernetes
		{true, false, StdinOpen},
		{true, true, StdinOnce},
	} {
		if got := stdinLabel(runtime.ContainerSpec{Stdin: tc.stdin, StdinOnce: tc.once}); got != tc.want {
			t.Errorf("stdin %v, stdinOnce %v: label %q, want %q", tc.stdin, tc.once, got, tc.want)
		}
	}
}

func TestWithStdinKeepsTheOtherStreams(t *testing.T) {
	base := func(string) (cio.IO, error) {
		return &spoolIO{cfg: cio.Config{Stdout: "/spool/out", Stderr: "/spool/err"}}, nil
	}
	io, err := withStdin(base, "/stdin/c1", false)("c1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := io.Config(), (cio.Config{Stdin: "/stdin/c1", Stdout: "/spool/out", Stderr: "/spool/err"}); got != want {
		t.Fatalf("config %+v, want %+v", got, want)
	}
}

// fifoPair makes a FIFO with a reader (standing in for the shim) and a
// non-blocking writer, as AttachStdin opens it.
func fifoPair(t *testing.T) (r, w *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stdin")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err = os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func TestCopyStdinCopiesUntilEOF(t *testing.T) {
	r, w := fifoPair(t)
	if err := copyStdin(context.Background(), w, strings.NewReader("one\ntwo\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "one\ntwo\n" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// A container that does not read its stdin fills the pipe: the session's
// end must still end the write.
func TestWriteStdinEndsWithCtxOnAFullPipe(t *testing.T) {
	_, w := fifoPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- writeStdin(ctx, w, make([]byte, 1<<20)) }()
	select {
	case err := <-done:
		t.Fatalf("a 1 MiB write into a pipe nobody reads returned %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("write ended with %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("write still blocked 2 s after its context ended")
	}
}
