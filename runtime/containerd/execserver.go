package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
)

// The exec server (execserver/execserver.c) is a small static program the
// runtime bind-mounts read-only into every container it creates (when it
// has one: Options.ExecHelper) and starts, on the container's first exec,
// as one long-lived exec process through containerd. That process has what
// any runc exec of the container has; it then fork+execs each command
// itself, so an exec costs a fork and an exec instead of containerd, the
// shim, runc and runc init.
const (
	// ExecHelperPath is where the helper is mounted in containers; the
	// kubelet mounts /dev/termination-log the same way.
	ExecHelperPath = "/dev/.miniagent-exec"
	// LabelExecHelper on a container says the helper is mounted there, at
	// the label's value.
	LabelExecHelper = "io.miniagent.exec-helper"
	// execServerID is the server's exec ID: fixed, so that a restarted
	// agent finds the server of its predecessor and replaces it.
	execServerID = "miniagent-exec"
)

const (
	// execAnswerSlack is how long past a command's timeout the server may
	// take to answer before it counts as hung and is dropped.
	execAnswerSlack = 5 * time.Second
	// execHelloTimeout bounds a server's start, up to its hello.
	execHelloTimeout = 10 * time.Second
	// execRetryAfter is how long a container whose server could not start
	// uses runc exec before a start is tried again.
	execRetryAfter = 30 * time.Second
)

var (
	errNoExecHelper = errors.New("container has no exec helper")
	errServerDied   = errors.New("exec server ended")
)

// execEntry is the runtime's exec state for one container.
type execEntry struct {
	mu sync.Mutex // held while a server is started or dropped
	execState
}

// execServer is one running exec server.
type execServer struct {
	mu      sync.Mutex // one request at a time
	proc    client.Process
	pid     uint32
	in, out *os.File // our ends of its stdin and stdout FIFOs
	errf    *os.File // its stderr FIFO, held open and never read: the server writes nothing there
	id      string   // its container's
	dir     string   // the FIFOs' directory
	dead    chan struct{}
	once    sync.Once
}

// PrepareExec starts the container's exec server if it has none (and one
// can be used), waiting for a start already under way, so that its first
// Exec finds it running. An error means Exec will use runc exec.
func (r *Runtime) PrepareExec(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	_, _, err := r.execServerFor(ctx, id, true)
	return err
}

// execServerFor returns the container's running server, starting one if
// there is none; or nil and the reason to use runc exec. Unless wait is
// set, a server being started or dropped by another call is FallbackBusy.
func (r *Runtime) execServerFor(ctx context.Context, id string, wait bool) (*execServer, string, error) {
	r.execMu.Lock()
	e := r.execs[id]
	if e == nil {
		e = &execEntry{}
		r.execs[id] = e
	}
	r.execMu.Unlock()
	if wait {
		e.mu.Lock()
	} else if !e.mu.TryLock() {
		return nil, FallbackBusy, nil // its server is being started or dropped
	}
	defer e.mu.Unlock()
	plan, reason := chooseExec(r.opts.ExecHelper != "", e.execState, time.Now())
	switch plan {
	case planRunc:
		return nil, reason, nil
	case planUse:
		return e.srv, "", nil
	}
	if e.srv != nil {
		e.srv.close(r) // ended between requests: replaced quietly
		e.srv = nil
	}
	srv, err := r.startExecServer(ctx, id)
	switch {
	case errors.Is(err, errNoExecHelper):
		e.noHelper = true
		return nil, FallbackNoHelper, err
	case err != nil:
		e.failedAt = time.Now()
		return nil, FallbackStartFailed, err
	}
	e.srv, e.failedAt = srv, time.Time{}
	return srv, "", nil
}

// startExecServer starts the server of container id, replacing one a
// previous agent left, and waits for its hello.
func (r *Runtime) startExecServer(ctx context.Context, id string) (_ *execServer, retErr error) {
	r.watchExecServers()
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, classify(err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return nil, classify(err)
	}
	helper := labels[LabelExecHelper]
	if helper == "" {
		return nil, errNoExecHelper
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return nil, classify(err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return nil, classify(err)
	}
	if old, err := task.LoadProcess(ctx, execServerID, nil); err == nil {
		if err := killAndDelete(ctx, old); err != nil {
			return nil, fmt.Errorf("replace the exec server left running: %w", classify(err))
		}
	} else if !errdefs.IsNotFound(err) {
		return nil, classify(err)
	}
	dir := filepath.Join(r.opts.ExecDir, id)
	s, err := openExecFIFOs(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			s.close(r)
		}
	}()
	pspec := *spec.Process
	pspec.Args = []string{helper}
	pspec.Terminal = false
	// The shim wants all three streams.
	cfg := cio.Config{Stdin: filepath.Join(dir, "in"), Stdout: filepath.Join(dir, "out"), Stderr: filepath.Join(dir, "err")}
	s.proc, err = task.Exec(ctx, execServerID, &pspec, func(string) (cio.IO, error) { return fifoIO{cfg}, nil })
	if err != nil {
		return nil, classify(err)
	}
	if err := s.proc.Start(ctx); err != nil {
		return nil, classify(err)
	}
	s.pid = s.proc.Pid()
	// From here its exit event marks it dead. One that died before this
	// line is not marked but never says hello: the read below times out.
	r.execLive.Store(id, s)
	if err := s.out.SetReadDeadline(time.Now().Add(execHelloTimeout)); err != nil {
		return nil, err
	}
	if err := readExecHello(s.out); err != nil {
		return nil, err
	}
	return s, s.out.SetReadDeadline(time.Time{})
}

// openExecFIFOs makes a fresh directory with the server's stdin, stdout and
// stderr FIFOs and opens our ends. Both are opened read-write, which never blocks
// on a FIFO; a dead server is told by its exit, not by end of file.
func openExecFIFOs(dir string) (*execServer, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &execServer{id: filepath.Base(dir), dir: dir, dead: make(chan struct{})}
	var err error
	for _, f := range []struct {
		name string
		file **os.File
	}{{"in", &s.in}, {"out", &s.out}, {"err", &s.errf}} {
		p := filepath.Join(dir, f.name)
		if err = syscall.Mkfifo(p, 0o600); err != nil {
			err = fmt.Errorf("mkfifo %s: %w", p, err)
			break
		}
		if *f.file, err = os.OpenFile(p, os.O_RDWR, 0); err != nil {
			break
		}
	}
	if err != nil {
		s.closeFiles()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// do sends one encoded request and reads its answer. An error means the
// server can no longer be used.
func (s *execServer) do(ctx context.Context, req []byte, timeout time.Duration, max int) (execAnswer, error) {
	if s.isDead() {
		return execAnswer{}, errServerDied
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout + execAnswerSlack)
	}
	if err := s.out.SetReadDeadline(deadline); err != nil {
		return execAnswer{}, s.deadOr(err)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.out.SetReadDeadline(time.Now()) })
	defer stop()
	if _, err := s.in.Write(req); err != nil {
		return execAnswer{}, s.deadOr(err)
	}
	a, err := readExecAnswer(s.out, max)
	if err != nil {
		if ctx.Err() != nil {
			return execAnswer{}, ctx.Err()
		}
		return execAnswer{}, s.deadOr(err)
	}
	return a, nil
}

func (s *execServer) deadOr(err error) error {
	if s.isDead() {
		return fmt.Errorf("%w: %w", errServerDied, err)
	}
	return err
}

func (s *execServer) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// markDead records the server's end and unblocks a request waiting on it.
func (s *execServer) markDead() {
	select {
	case <-s.dead:
	default:
		close(s.dead)
	}
	s.closeFiles()
}

func (s *execServer) closeFiles() {
	for _, f := range []*os.File{s.in, s.out, s.errf} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// close kills and deletes the server's exec process (bounded) and removes
// its FIFOs. It may run more than once and alongside a request, which then
// fails.
func (s *execServer) close(r *Runtime) {
	s.once.Do(func() {
		if s.proc != nil {
			ctx, cancel := context.WithTimeout(r.ns(context.Background()), execKillWait)
			_ = killAndDelete(ctx, s.proc)
			cancel()
		}
		s.markDead()
		_ = os.RemoveAll(s.dir)
		r.execLive.CompareAndDelete(s.id, s)
	})
}

// execServerExited marks container id's server dead if the process that
// exited (pid) is that server, not one it replaced.
func (r *Runtime) execServerExited(id string, pid uint32) {
	if v, ok := r.execLive.Load(id); ok {
		if s := v.(*execServer); s.pid == pid {
			s.markDead()
			r.execLive.CompareAndDelete(id, s)
		}
	}
}

// killAndDelete SIGKILLs an exec process, waits for its exit and deletes
// it. (client.WithProcessKill skips a loaded process: it knows no pid.)
func killAndDelete(ctx context.Context, p client.Process) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exitCh, err := p.Wait(wctx)
	if err != nil {
		return err
	}
	if err := p.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return err
	}
	select {
	case <-exitCh:
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, err := p.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// dropExec forgets container id's exec state, ending its server.
func (r *Runtime) dropExec(id string) {
	r.execMu.Lock()
	e := r.execs[id]
	delete(r.execs, id)
	r.execMu.Unlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	srv := e.srv
	e.srv = nil
	e.mu.Unlock()
	if srv != nil {
		srv.close(r)
	}
}

// forgetServer drops srv after a failed request, unless it was replaced.
func (r *Runtime) forgetServer(id string, srv *execServer) {
	srv.close(r)
	r.execMu.Lock()
	e := r.execs[id]
	r.execMu.Unlock()
	if e != nil && e.mu.TryLock() {
		if e.srv == srv {
			e.srv = nil
		}
		e.mu.Unlock()
	}
}

// closeExecServers ends every server (the agent is shutting down).
func (r *Runtime) closeExecServers() {
	r.execMu.Lock()
	ids := make([]string, 0, len(r.execs))
	for id := range r.execs {
		ids = append(ids, id)
	}
	r.execMu.Unlock()
	// A few at a time: each is some containerd calls, and a node may have
	// hundreds.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r.dropExec(id)
		}()
	}
	wg.Wait()
}

// execServerPid is the host pid of container id's server, 0 if none.
func (r *Runtime) execServerPid(id string) int {
	r.execMu.Lock()
	defer r.execMu.Unlock()
	if e := r.execs[id]; e != nil && e.srv != nil && !e.srv.isDead() {
		return int(e.srv.pid)
	}
	return 0
}
