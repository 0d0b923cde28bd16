package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/miniagent/miniagent/runtime"
)

// execKillWait bounds the wait for an exec process after SIGKILL.
const execKillWait = 5 * time.Second

// Exec runs cmd in the running container with the container's environment,
// user and working directory, collecting up to maxOutput bytes of stdout and
// stderr together. Past timeout (when > 0) the process is killed and
// runtime.ErrExecTimeout returned.
//
// With an exec helper (Options.ExecHelper) the command runs through the
// container's exec server (execserver.go), started on the first exec;
// without one, or when the server is busy, cannot start or fails, through
// containerd's exec (runc exec), and the fallback is counted in
// miniagent_exec_fallbacks_total and logged once per reason.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration, maxOutput int) (runtime.ExecResult, error) {
	ctx = r.ns(ctx)
	if len(cmd) == 0 {
		return runtime.ExecResult{}, fmt.Errorf("exec in container %q: empty command", id)
	}
	res, reason, err := r.fastExec(ctx, id, cmd, timeout, maxOutput)
	if reason == "" {
		return res, err
	}
	r.fellBack(id, reason, err)
	return r.runcExec(ctx, id, cmd, timeout, maxOutput)
}

// fastExec runs cmd on the container's exec server. A non-empty reason
// means it did not and runc exec is to be used (err, if any, says why).
func (r *Runtime) fastExec(ctx context.Context, id string, cmd []string, timeout time.Duration, maxOutput int) (runtime.ExecResult, string, error) {
	if maxOutput < 0 {
		maxOutput = 0
	}
	if maxOutput > execMaxOutput {
		maxOutput = execMaxOutput
	}
	req, err := encodeExecRequest(cmd, timeout, maxOutput)
	if err != nil {
		return runtime.ExecResult{}, "", fmt.Errorf("exec in container %q: %w", id, err)
	}
	srv, reason, err := r.execServerFor(ctx, id, false)
	if srv == nil {
		return runtime.ExecResult{}, reason, err
	}
	if !srv.mu.TryLock() {
		return runtime.ExecResult{}, FallbackBusy, nil
	}
	a, err := srv.do(ctx, req, timeout, maxOutput)
	srv.mu.Unlock()
	if err != nil {
		r.forgetServer(id, srv)
		if reason := fallbackFor(err, ctx.Err()); reason != "" {
			return runtime.ExecResult{}, reason, err
		}
		if ctx.Err() != nil {
			return runtime.ExecResult{}, "", fmt.Errorf("exec in container %q: %w", id, ctx.Err())
		}
		return runtime.ExecResult{ExitCode: -1}, "", fmt.Errorf("exec %q in container %q: exec server gave no answer %v past the timeout: %w",
			cmd[0], id, execAnswerSlack, runtime.ErrExecTimeout)
	}
	return execResult(id, cmd, timeout, a)
}

// execResult turns a server's answer into Exec's result, or (reason set)
// says to use runc exec.
func execResult(id string, cmd []string, timeout time.Duration, a execAnswer) (runtime.ExecResult, string, error) {
	switch a.kind {
	case execExited, execSignaled:
		return runtime.ExecResult{ExitCode: a.exitCode(), Output: a.output}, "", nil
	case execTimedOut:
		return runtime.ExecResult{ExitCode: -1, Output: a.output}, "",
			fmt.Errorf("exec %q in container %q: no exit after %v: %w", cmd[0], id, timeout, runtime.ErrExecTimeout)
	case execNotRun:
		return runtime.ExecResult{}, "", fmt.Errorf("exec in container %q: start %q: %s", id, cmd[0], notRunMessage(cmd[0], a.value))
	}
	return runtime.ExecResult{}, FallbackServerError, fmt.Errorf("exec server: %w", syscall.Errno(a.value))
}

// fellBack counts an exec that went through runc exec and logs the first
// of each reason.
func (r *Runtime) fellBack(id, reason string, err error) {
	r.execFallbacks.WithLabelValues(reason).Inc()
	if _, logged := r.execLogged.LoadOrStore(reason, true); logged {
		return
	}
	args := []any{"reason", reason, "container", id}
	if err != nil {
		args = append(args, "err", err)
	}
	r.opts.Log.Warn("exec probe falls back to runc exec (logged once per reason; see miniagent_exec_fallbacks_total)", args...)
}

// runcExec runs cmd through containerd's exec: a new exec process, started
// by the shim with runc exec, deleted in every case.
func (r *Runtime) runcExec(ctx context.Context, id string, cmd []string, timeout time.Duration, maxOutput int) (runtime.ExecResult, error) {
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return runtime.ExecResult{}, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return runtime.ExecResult{}, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		return runtime.ExecResult{}, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = false

	out := &cappedBuffer{max: maxOutput}
	execID := newExecID()
	proc, err := t.Exec(ctx, execID, &pspec, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return runtime.ExecResult{}, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	// Cleanup uses its own context: the caller's may be done by then.
	defer func() {
		dctx, cancel := context.WithTimeout(r.ns(context.Background()), execKillWait)
		defer cancel()
		_, _ = proc.Delete(dctx, client.WithProcessKill)
	}()

	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	exitCh, err := proc.Wait(waitCtx)
	if err != nil {
		return runtime.ExecResult{}, classify(fmt.Errorf("exec in container %q: %w", id, err))
	}
	if err := proc.Start(ctx); err != nil {
		return runtime.ExecResult{}, classify(fmt.Errorf("exec in container %q: start %q: %w", id, cmd[0], err))
	}

	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case st := <-exitCh:
		if err := st.Error(); err != nil {
			return runtime.ExecResult{}, classify(fmt.Errorf("exec in container %q: %w", id, err))
		}
		// Let the output copy finish before reading the buffer.
		proc.IO().Wait()
		return runtime.ExecResult{ExitCode: int(st.ExitCode()), Output: out.Bytes()}, nil
	case <-timer:
		r.killExec(proc, exitCh)
		return runtime.ExecResult{ExitCode: -1, Output: out.Bytes()},
			fmt.Errorf("exec %q in container %q: no exit after %v: %w", cmd[0], id, timeout, runtime.ErrExecTimeout)
	case <-ctx.Done():
		r.killExec(proc, exitCh)
		return runtime.ExecResult{}, fmt.Errorf("exec in container %q: %w", id, ctx.Err())
	}
}

// killExec SIGKILLs an exec process and waits (bounded) for its exit.
func (r *Runtime) killExec(proc client.Process, exitCh <-chan client.ExitStatus) {
	kctx, cancel := context.WithTimeout(r.ns(context.Background()), execKillWait)
	defer cancel()
	_ = proc.Kill(kctx, syscall.SIGKILL)
	select {
	case <-exitCh:
	case <-kctx.Done():
	}
}

func newExecID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "exec-" + hex.EncodeToString(b[:])
}

// cappedBuffer keeps the first max bytes written to it (max <= 0: nothing)
// and discards the rest, never failing the writer.
type cappedBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		b.buf = append(b.buf, p[:room]...)
	}
	return len(p), nil
}

func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf...)
}
