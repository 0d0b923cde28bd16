package containerd

import (
	"context"
	"fmt"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/typeurl/v2"

	"github.com/miniagent/miniagent/runtime"
)

// Re-subscription back-off after the event stream breaks.
const (
	eventsMinBackoff = 100 * time.Millisecond
	eventsMaxBackoff = 5 * time.Second
	eventsBuffer     = 256
)

// Events streams exit and OOM events of the runtime's namespace until ctx
// ends. Exits of exec'd processes are dropped. When the stream breaks
// (containerd restarted) the channel stays open and the subscription is
// renewed with back-off; events in the gap are lost, so callers re-list.
// A renewed subscription first sends an EventResync. Each container's
// exit is recorded in its labels (see recordExit) before it is sent, so a
// caller that hears of an exit finds it recorded; exits come while Events
// runs, which the agent does all its life.
func (r *Runtime) Events(ctx context.Context) <-chan runtime.Event {
	out := make(chan runtime.Event, eventsBuffer)
	send := func(ev runtime.Event) bool {
		if ev.Type == runtime.EventExit {
			r.recordExit(ctx, ev)
		}
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(out)
		r.subscribe(ctx, func() bool {
			return send(runtime.Event{Type: runtime.EventResync, At: time.Now()})
		}, func(env *events.Envelope) bool {
			ev, ok := convertEvent(env)
			return !ok || send(ev)
		}, "/tasks/exit", "/tasks/oom")
	}()
	return out
}

// subscribe hands the events of topics in the runtime's namespace to
// handle until ctx ends or handle or renewed returns false. When the
// stream breaks it is renewed with back-off, and renewed is called once
// the new subscription is made.
func (r *Runtime) subscribe(ctx context.Context, renewed func() bool, handle func(*events.Envelope) bool, topics ...string) {
	backoff := eventsMinBackoff
	for again := false; ctx.Err() == nil; again = true {
		got, ok := r.subscribeOnce(ctx, again, renewed, handle, topics)
		if !ok || ctx.Err() != nil {
			return
		}
		if got {
			backoff = eventsMinBackoff
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		if backoff *= 2; backoff > eventsMaxBackoff {
			backoff = eventsMaxBackoff
		}
	}
}

// subscribeOnce hands events to handle until the subscription fails or ctx
// ends. It reports whether any event arrived (the connection was healthy)
// and false for ok when handle or renewed asked to stop.
func (r *Runtime) subscribeOnce(ctx context.Context, again bool, renewed func() bool, handle func(*events.Envelope) bool, topics []string) (got, ok bool) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	filters := make([]string, len(topics))
	for i, t := range topics {
		filters[i] = fmt.Sprintf(`namespace==%q,topic==%q`, r.opts.Namespace, t)
	}
	msgs, errs := r.client.Subscribe(sctx, filters...)
	if again && !renewed() {
		return false, false
	}
	for {
		select {
		case env := <-msgs:
			if env == nil {
				continue
			}
			got = true
			if !handle(env) {
				return got, false
			}
		case <-errs:
			return got, true
		case <-ctx.Done():
			return got, true
		}
	}
}

// watchExecServers starts, once, the runtime's watch of its exec servers'
// exits: a server's exit event marks it dead (see execServerExited); a
// broken event stream marks every server dead, as one could have died
// unseen (each is replaced at its container's next exec). One
// subscription for all of the node's servers, not a wait per server.
func (r *Runtime) watchExecServers() {
	r.execWatch.Do(func() {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.subscribe(r.bg, func() bool {
				r.execLive.Range(func(_, v any) bool {
					v.(*execServer).markDead()
					return true
				})
				return true
			}, func(env *events.Envelope) bool {
				if e, ok := payload(env).(*apievents.TaskExit); ok && e.ID == execServerID {
					r.execServerExited(e.ContainerID, e.Pid)
				}
				return true
			}, "/tasks/exit")
		}()
	})
}

// convertEvent turns a containerd envelope into a runtime.Event.
func convertEvent(env *events.Envelope) (runtime.Event, bool) {
	switch e := payload(env).(type) {
	case *apievents.TaskExit:
		if e.ID != e.ContainerID {
			return runtime.Event{}, false // an exec'd process
		}
		at := env.Timestamp
		if e.ExitedAt != nil {
			at = e.ExitedAt.AsTime()
		}
		return runtime.Event{Type: runtime.EventExit, ContainerID: e.ContainerID, ExitCode: int32(e.ExitStatus), At: at}, true
	case *apievents.TaskOOM:
		return runtime.Event{Type: runtime.EventOOM, ContainerID: e.ContainerID, At: env.Timestamp}, true
	}
	return runtime.Event{}, false
}

// payload is the event an envelope carries, nil if it carries none that
// decodes.
func payload(env *events.Envelope) any {
	if env.Event == nil {
		return nil
	}
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		return nil
	}
	return v
}
