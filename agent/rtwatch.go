package agent

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/runtime"
)

// watchRuntimeEvents turns the runtime's exit and OOM events into
// instance state and wakes the pod's worker.
func (a *Agent) watchRuntimeEvents(ctx context.Context) {
	for ev := range a.rt.Events(ctx) {
		// An OOM event alone proves nothing about this container (on v1 it
		// fires for every cgroup under the one out of memory): the kill is
		// decided at exit from the container cgroup's own oom_kill counter.
		if ev.Type == runtime.EventExit {
			oomKilled := false
			if st, err := a.rt.ContainerStatus(ctx, ev.ContainerID); err == nil {
				oomKilled = st.OOMKilled
			}
			a.recordExit(ev.ContainerID, ev.ExitCode, ev.At, oomKilled, "", "")
		}
	}
}

// recordExit marks an instance exited and wakes its pod's worker.
func (a *Agent) recordExit(id string, code int32, at time.Time, oom bool, reason, msg string) {
	if at.IsZero() {
		at = a.clock.Now()
	}
	a.mu.Lock()
	var uid types.UID
	for u, rec := range a.pods {
		c, in := rec.findInstance(id)
		if in == nil || in.Exited {
			continue
		}
		in.Exited, in.ExitCode, in.FinishedAt = true, code, at
		in.OOMKilled = in.OOMKilled || oom
		in.Reason, in.Message = reason, msg
		if in.StartedAt.IsZero() {
			in.StartedAt = at
		}
		uid = u
		if in.OOMKilled {
			a.events.warn(rec.Pod, "OOMKilling", "Memory cgroup out of memory: Killed process in container "+c.Name)
		}
	}
	w := a.workers[uid]
	a.mu.Unlock()
	if a.prober != nil {
		a.prober.RemoveContainer(id)
	}
	if w != nil {
		w.poke()
	}
}

// watchRuntimeHealth notices the runtime going away and coming back: while
// it is away pods show phase Unknown; when it is back, exits missed in
// between are picked up and every worker syncs.
func (a *Agent) watchRuntimeHealth(ctx context.Context) {
	t := a.clock.NewTicker(a.opts.HealthPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		up := a.rt.Healthy(hctx) == nil
		cancel()
		a.mu.Lock()
		changed := up != a.runtimeUp
		a.runtimeUp = up
		a.mu.Unlock()
		if !changed {
			continue
		}
		if up {
			a.log.Info("container runtime is back")
			a.reconcile(ctx)
		} else {
			a.log.Error("container runtime unreachable: pods show phase Unknown")
		}
		a.mu.Lock()
		for _, w := range a.workers {
			w.poke()
		}
		a.mu.Unlock()
	}
}
