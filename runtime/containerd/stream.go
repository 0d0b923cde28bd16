package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/miniagent/miniagent/runtime"
)

// ExecStream implements runtime.Runtime: an interactive exec, as the CRI
// server runs `kubectl exec`. The process's stdin is closed (CloseIO) once
// the caller's stdin ends; a terminal gets the caller's first size before
// the process starts (runc sets it from the process spec's consoleSize,
// see initialSize) and is resized as later sizes arrive; when ctx ends
// first the process is SIGKILLed. The exec process is deleted before
// ExecStream returns.
func (r *Runtime) ExecStream(ctx context.Context, id string, cmd []string, st runtime.ExecStreams) (int, error) {
	ctx = r.ns(ctx)
	if len(cmd) == 0 {
		return -1, fmt.Errorf("exec in container %q: empty command", id)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		return -1, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = st.TTY
	if st.TTY {
		pspec.Env = withTerm(pspec.Env)
		if st.Resize != nil {
			timer := time.NewTimer(firstSizeWait)
			sz := initialSize(ctx, st.Resize, timer.C)
			timer.Stop()
			if sz != nil {
				pspec.ConsoleSize = &specs.Box{Height: uint(sz.Height), Width: uint(sz.Width)}
			}
		}
	}

	// The stdin copy starts inside t.Exec, before the process exists: its
	// end is signalled here and acted on once the process started.
	stdinDone := make(chan struct{})
	opts := []cio.Opt{cio.WithStreams(nil, st.Stdout, nil)}
	if st.Stdin != nil {
		opts = []cio.Opt{cio.WithStreams(&eofSignal{r: st.Stdin, done: stdinDone}, st.Stdout, nil)}
	}
	if st.TTY {
		opts = append(opts, cio.WithTerminal)
	} else if st.Stderr != nil {
		opts = append(opts, func(s *cio.Streams) { s.Stderr = st.Stderr })
	}
	proc, err := t.Exec(ctx, newExecID(), &pspec, cio.NewCreator(opts...))
	if err != nil {
		return -1, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	defer func() {
		// Its own context: the caller's may be done by then.
		dctx, cancel := context.WithTimeout(r.ns(context.Background()), execKillWait)
		defer cancel()
		_, _ = proc.Delete(dctx, client.WithProcessKill)
	}()

	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	exitCh, err := proc.Wait(waitCtx)
	if err != nil {
		return -1, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	if err := proc.Start(ctx); err != nil {
		return -1, classify(fmt.Errorf("exec in container %q: start %q: %w", id, cmd[0], err))
	}

	var helpers sync.WaitGroup
	defer helpers.Wait()
	helperCtx, stopHelpers := context.WithCancel(ctx)
	defer stopHelpers()
	if st.Stdin != nil {
		helpers.Go(func() {
			select {
			case <-stdinDone:
				_ = proc.CloseIO(helperCtx, client.WithStdinCloser)
			case <-helperCtx.Done():
			}
		})
	}
	if st.TTY && st.Resize != nil {
		helpers.Go(func() { resizeLoop(helperCtx, proc, st.Resize) })
	}

	select {
	case es := <-exitCh:
		stopHelpers()
		if err := es.Error(); err != nil {
			return -1, classify(fmt.Errorf("exec in container %q: %w", id, err))
		}
		// The output copy ends when the process's last writer is gone.
		proc.IO().Wait()
		return int(es.ExitCode()), nil
	case <-ctx.Done():
		stopHelpers()
		r.killExec(proc, exitCh)
		return -1, fmt.Errorf("exec in container %q: %w", id, ctx.Err())
	}
}

// firstSizeWait bounds how long a terminal exec waits for the caller's
// first terminal size before it starts the process without one. Clients
// (kubectl, client-go, the miniagent CLI) send it as soon as the streams
// are open, so it is there within a round trip.
const firstSizeWait = time.Second

// initialSize returns the caller's first terminal size, or nil when it
// is 0x0 (the client does not know its size) or none came before sizes
// closed, timeout fired or ctx ended. Without it the terminal would start
// at 0x0 and get the size only after the process started: a command that
// reads it at once (`stty size`, a full-screen program, a shell's line
// editor) would see no size (busybox stty then fails with "stty: standard
// input" and whatever errno was left, such as "No child processes").
func initialSize(ctx context.Context, sizes <-chan runtime.TerminalSize, timeout <-chan time.Time) *runtime.TerminalSize {
	select {
	case sz, ok := <-sizes:
		if !ok || sz.Width == 0 || sz.Height == 0 {
			return nil
		}
		return &sz
	case <-timeout:
		return nil
	case <-ctx.Done():
		return nil
	}
}

// resizeLoop applies terminal sizes until sizes closes or ctx ends.
func resizeLoop(ctx context.Context, proc client.Process, sizes <-chan runtime.TerminalSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			if sz.Width == 0 || sz.Height == 0 {
				continue
			}
			_ = proc.Resize(ctx, uint32(sz.Width), uint32(sz.Height))
		}
	}
}

// withTerm adds TERM=xterm unless env sets TERM, as docker and podman do
// for a terminal exec.
func withTerm(env []string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "TERM=") {
			return env
		}
	}
	return append(append([]string(nil), env...), "TERM=xterm")
}

// eofSignal reads r and closes done once r ended (EOF or error).
type eofSignal struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofSignal) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
		if !errors.Is(err, io.EOF) {
			// cio stops copying on any error, like on EOF.
			return n, io.EOF
		}
	}
	return n, err
}
