package probes

import (
	"context"
	goruntime "runtime"
	"time"
)

// ExecPreparer is an Execer that can get a container's exec path ready
// before its first exec (the containerd runtime starts the container's exec
// server, which is a full runc exec). The Manager calls it once per
// container instance with exec probes, outside the exec probe slots and
// bounded by its own, so that the servers of many starting containers do
// not hold the slots of exec probes that are already cheap.
type ExecPreparer interface {
	PrepareExec(ctx context.Context, id string) error
}

// prepareTimeout bounds one PrepareExec; past it the first probe goes
// through the Execer, which falls back by itself.
const prepareTimeout = 30 * time.Second

// DefaultPrepareConcurrency is how many containers' exec paths are made
// ready at once: max(2, NumCPU).
func DefaultPrepareConcurrency() int { return max(2, goruntime.NumCPU()) }

// WithPrepareConcurrency bounds how many containers' exec paths are made
// ready at once; n <= 0 keeps the default, DefaultPrepareConcurrency().
func WithPrepareConcurrency(n int) Option {
	return func(m *Manager) {
		if n > 0 {
			m.prepSlots = make(chan struct{}, n)
		}
	}
}

// startPrepare starts readying inst's exec path if it has exec probes and
// the Execer can; inst.prepared is closed when that ended (either way), and
// inst.stop cancels it. Called with the instance registered.
func (m *Manager) startPrepare(inst *instance) {
	if m.preparer == nil || inst.prepared == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	inst.cancelPrepare = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(inst.prepared)
		defer cancel()
		select {
		case m.prepSlots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-m.prepSlots }()
		pctx, done := context.WithTimeout(ctx, prepareTimeout)
		defer done()
		t := &inst.target
		if err := m.preparer.PrepareExec(pctx, t.ContainerID); err != nil && ctx.Err() == nil {
			m.log.Debug("exec path not prepared; probes use the runtime's fallback",
				"pod", t.Namespace+"/"+t.PodName, "container", t.ContainerName, "err", err)
		}
	}()
}

// hasExecProbe reports whether any of the probes is an exec probe.
func hasExecProbe(workers map[ProbeType]*worker) bool {
	for _, w := range workers {
		if w.spec.Exec != nil {
			return true
		}
	}
	return false
}

// waitPrepared waits until inst's exec path was prepared, for an exec
// probe; false if ctx ended first.
func (w *worker) waitPrepared(ctx context.Context) bool {
	if w.spec.Exec == nil || w.inst.prepared == nil {
		return true
	}
	select {
	case <-w.inst.prepared:
		return true
	case <-ctx.Done():
		return false
	}
}
