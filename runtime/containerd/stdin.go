package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/miniagent/miniagent/runtime"
)

// LabelStdin marks a container created with stdin (ContainerSpec.Stdin):
// StdinOpen or StdinOnce.
const LabelStdin = "io.miniagent.stdin"

// LabelTTY is "true" on a container created with a terminal.
const LabelTTY = "io.miniagent.tty"

// LabelStdin values.
const (
	StdinOpen = "open" // stdin stays open for every attach session
	StdinOnce = "once" // stdin is closed after the first attach session
)

// stdinLabel is the LabelStdin value for spec, "" without stdin.
func stdinLabel(spec runtime.ContainerSpec) string {
	switch {
	case !spec.Stdin:
		return ""
	case spec.StdinOnce:
		return StdinOnce
	default:
		return StdinOpen
	}
}

// The container's stdin is a FIFO under stdinDir that the task is
// created with. The shim opens it for reading and, to make CloseIO work,
// also for writing: the container's stdin therefore stays open between
// attach sessions and across agent restarts, and each session opens a
// writer of its own. It closes when CloseIO closes the shim's writer and
// no session writes (stdinOnce), or when the task is deleted.

// stdinPath is where the FIFO of container id lives.
func (r *Runtime) stdinPath(id string) string { return filepath.Join(r.stdinDir, id) }

// makeStdin makes the container's stdin FIFO for a new task.
func (r *Runtime) makeStdin(id string) error {
	if err := os.MkdirAll(r.stdinDir, 0o700); err != nil {
		return fmt.Errorf("stdin dir: %w", err)
	}
	path := r.stdinPath(id)
	_ = os.Remove(path) // an earlier task's
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return fmt.Errorf("stdin fifo: %w", err)
	}
	return nil
}

// withStdin gives the IO that create makes the FIFO at path as stdin,
// and a terminal if tty.
func withStdin(create cio.Creator, path string, tty bool) cio.Creator {
	return func(id string) (cio.IO, error) {
		io, err := create(id)
		if err != nil {
			return nil, err
		}
		return stdinIO{IO: io, path: path, tty: tty}, nil
	}
}

type stdinIO struct {
	cio.IO
	path string
	tty  bool
}

func (s stdinIO) Config() cio.Config {
	c := s.IO.Config()
	c.Stdin = s.path
	c.Terminal = s.tty
	if s.tty {
		c.Stderr = "" // the terminal is one stream
	}
	return c
}

// removeStdin removes the container's stdin FIFO.
func (r *Runtime) removeStdin(id string) { _ = os.Remove(r.stdinPath(id)) }

// AttachStdin implements runtime.Runtime: stdin is copied into the
// container's stdin until it ends or ctx ends. After that a stdinOnce
// container's stdin is closed (its FIFO removed, so later sessions are
// refused, and the shim's writer closed): its process reads EOF once no
// other session writes.
func (r *Runtime) AttachStdin(ctx context.Context, id string, stdin io.Reader, resize <-chan runtime.TerminalSize) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return classify(fmt.Errorf("attach to the stdin of container %q: %w", id, err))
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return classify(fmt.Errorf("attach to the stdin of container %q: %w", id, err))
	}
	mode := labels[LabelStdin]
	if mode == "" {
		return fmt.Errorf("attach to the stdin of container %q: %w: it was not created with stdin", id, runtime.ErrNoStdin)
	}
	// Non-blocking: ENXIO when no shim reads (the task is gone).
	f, err := os.OpenFile(r.stdinPath(id), os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("attach to the stdin of container %q: %w: %w", id, runtime.ErrNoStdin, err)
	}
	if labels[LabelTTY] == "true" && resize != nil {
		if t, terr := c.Task(ctx, nil); terr == nil {
			rctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); resizeLoop(rctx, t, resize) }()
			defer func() { stop(); <-done }()
		}
	}
	err = copyStdin(ctx, f, stdin)
	if err != nil {
		err = fmt.Errorf("attach to the stdin of container %q: %w", id, err)
	}
	_ = f.Close()
	if mode == StdinOnce {
		r.removeStdin(id)
		if cerr := closeTaskStdin(ctx, c); cerr != nil && err == nil {
			err = fmt.Errorf("close the stdin of container %q: %w", id, cerr)
		}
	}
	return err
}

// closeTaskStdin closes the shim's writer of the task's stdin.
func closeTaskStdin(ctx context.Context, c client.Container) error {
	// Its own context: the session's may be done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	t, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return classify(err)
	}
	if err := t.CloseIO(ctx, client.WithStdinCloser); err != nil && !errdefs.IsNotFound(err) {
		return classify(err)
	}
	return nil
}

// copyStdin copies r to the FIFO f until r ends or ctx ends.
func copyStdin(ctx context.Context, f *os.File, r io.Reader) error {
	buf := make([]byte, 32*1024)
	for ctx.Err() == nil {
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := writeStdin(ctx, f, buf[:n]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				return fmt.Errorf("read the session's stdin: %w", rerr)
			}
			return nil
		}
	}
	return nil
}

// writeStdin writes b whole unless ctx ends first: a container that does
// not read its stdin fills the pipe, so the write waits in steps of
// stdinWritePoll, checking ctx between them.
func writeStdin(ctx context.Context, f *os.File, b []byte) error {
	for len(b) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f.SetWriteDeadline(time.Now().Add(stdinWritePoll)); err != nil {
			return err
		}
		n, err := f.Write(b)
		b = b[n:]
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
	}
	return nil
}

const stdinWritePoll = 200 * time.Millisecond

// withTTY gives the process a terminal and TERM=xterm unless the
// container sets TERM, as the CRI plugin does for `tty: true`.
func withTTY(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Process == nil {
		s.Process = &specs.Process{}
	}
	s.Process.Terminal = true
	s.Process.Env = withTerm(s.Process.Env)
	return nil
}
