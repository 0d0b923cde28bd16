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
func (r *Runtime) Events(ctx context.Context) <-chan runtime.Event {
	out := make(chan runtime.Event, eventsBuffer)
	go func() {
		defer close(out)
		backoff := eventsMinBackoff
		for renewed := false; ctx.Err() == nil; renewed = true {
			got := r.subscribeOnce(ctx, out, renewed)
			if ctx.Err() != nil {
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
	}()
	return out
}

// subscribeOnce forwards events until the subscription fails or ctx ends.
// It reports whether any event arrived (the connection was healthy).
// A renewed subscription first sends an EventResync.
func (r *Runtime) subscribeOnce(ctx context.Context, out chan<- runtime.Event, renewed bool) bool {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ns := r.opts.Namespace
	msgs, errs := r.client.Subscribe(sctx,
		fmt.Sprintf(`namespace==%q,topic=="/tasks/exit"`, ns),
		fmt.Sprintf(`namespace==%q,topic=="/tasks/oom"`, ns))
	if renewed {
		select {
		case out <- runtime.Event{Type: runtime.EventResync, At: time.Now()}:
		case <-ctx.Done():
			return false
		}
	}
	got := false
	for {
		select {
		case env := <-msgs:
			if env == nil {
				continue
			}
			got = true
			ev, ok := convertEvent(env)
			if !ok {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return got
			}
		case <-errs:
			return got
		case <-ctx.Done():
			return got
		}
	}
}

// convertEvent turns a containerd envelope into a runtime.Event.
func convertEvent(env *events.Envelope) (runtime.Event, bool) {
	if env.Event == nil {
		return runtime.Event{}, false
	}
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		return runtime.Event{}, false
	}
	switch e := v.(type) {
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
