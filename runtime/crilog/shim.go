package crilog

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// File descriptors of containerd's binary log protocol: the runc shim starts
// the log process with the container's stdout read end on fd 3, stderr on
// fd 4 and the write end of a "ready" pipe on fd 5.
const (
	fdStdout = 3
	fdStderr = 4
	fdReady  = 5
)

// termGrace is how long the log process keeps draining after SIGTERM (sent by
// the shim when the task is deleted) before it gives up and exits.
const termGrace = 2 * time.Second

// ShimMain is the body of the log process started by containerd's runc shim.
// args are the process arguments after the program (and subcommand) name:
// the first non-empty one is the log file path; empty arguments, which the
// shim's query-to-argv conversion can produce, are ignored.
//
// It creates the file's directory (0755) and the file (0640, append), then
// copies fd 3 (stdout) and fd 4 (stderr) concurrently into CRI records,
// closes fd 5 to tell the shim it is ready, and returns 0 once both streams
// reach EOF. Errors go to stderr and yield a non-zero status.
func ShimMain(args []string) int {
	path := ""
	for _, a := range args {
		if a != "" {
			path = a
			break
		}
	}
	if path == "" {
		fmt.Fprintln(os.Stderr, "crilog-shim: missing log file path")
		return 2
	}
	ready := os.NewFile(fdReady, "ready")
	stdout := os.NewFile(fdStdout, "stdout")
	stderr := os.NewFile(fdStderr, "stderr")
	if ready == nil || stdout == nil || stderr == nil {
		fmt.Fprintln(os.Stderr, "crilog-shim: fds 3, 4 and 5 must be open")
		return 2
	}
	f, err := openLog(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "crilog-shim: %v\n", err)
		ready.Close()
		return 1
	}
	defer f.Close()

	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	signal.Ignore(syscall.SIGPIPE, syscall.SIGHUP)

	out := &lockedWriter{w: f}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range []struct {
		r    io.Reader
		name string
	}{{stdout, Stdout}, {stderr, Stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := NewWriter(out, s.name, time.Now)
			_, _ = io.Copy(w, s.r)
			_ = w.Close()
		}()
	}
	go func() { wg.Wait(); close(done) }()

	// Ready: the streams are being drained. Write one byte as well, which
	// newer shims ("binary-v2") require; older ones treat EOF as ready.
	_, _ = ready.Write([]byte{1})
	ready.Close()

	select {
	case <-done:
	case <-term:
		select {
		case <-done:
		case <-time.After(termGrace):
			fmt.Fprintln(os.Stderr, "crilog-shim: streams still open after SIGTERM, exiting")
		}
	}
	if err := f.Sync(); err != nil {
		fmt.Fprintf(os.Stderr, "crilog-shim: sync %s: %v\n", path, err)
	}
	return 0
}

func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}

// lockedWriter serialises whole-record writes of the two stream writers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
