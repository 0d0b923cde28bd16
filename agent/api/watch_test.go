package api_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/api/apitest"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// racyBackend makes one change the first time the server lists, after it
// has subscribed: the change is then both in the list and on the watch.
type racyBackend struct {
	*apitest.Backend
	once   sync.Once
	change func()
}

func (b *racyBackend) ListPods(ctx context.Context, ns string) ([]v1.Pod, error) {
	b.once.Do(b.change)
	return b.Backend.ListPods(ctx, ns)
}

func (b *racyBackend) PodEvents(ctx context.Context, ns, name string) ([]v1.Event, error) {
	b.once.Do(b.change)
	return b.Backend.PodEvents(ctx, ns, name)
}

func nextLine[E any](t *testing.T, ch <-chan E, show func(E) string) string {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			return "closed"
		}
		return show(ev)
	case <-time.After(3 * time.Second):
		return "timeout"
	}
}

// TestWatchChangeWhileListing: a change made between the server's
// subscription and its list reaches the watcher once, and the changes
// after it all reach it.
func TestWatchChangeWhileListing(t *testing.T) {
	t.Run("pods", func(t *testing.T) {
		b := &racyBackend{Backend: apitest.New()}
		b.SetPod(pod("default", "a"))
		b.change = func() {
			p := pod("default", "a")
			p.Status.Phase = v1.PodPending
			b.SetPod(p)
		}
		c := api.NewClient(start(t, b))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := c.WatchPods(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		show := func(ev api.WatchEvent) string { return ev.Type + " " + ev.Pod.Name + " " + string(ev.Pod.Status.Phase) }
		if got := nextLine(t, ch, show); got != "ADDED a Pending" {
			t.Fatalf("first line %q", got)
		}
		p := pod("default", "a")
		p.Status.Phase = v1.PodRunning
		b.SetPod(p)
		b.SetPod(p) // the same state again, not listed: still sent, as before
		for _, want := range []string{"MODIFIED a Running", "MODIFIED a Running"} {
			if got := nextLine(t, ch, show); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		}
	})
	t.Run("events", func(t *testing.T) {
		b := &racyBackend{Backend: apitest.New()}
		b.SetPod(pod("default", "a"))
		ev := func(name, reason string) v1.Event {
			return v1.Event{
				ObjectMeta:     metav1.ObjectMeta{Namespace: "default", Name: name},
				InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "a"},
				Reason:         reason, Count: 1,
			}
		}
		b.change = func() { b.AddEvent(ev("a.1", "Pulled")) }
		c := api.NewClient(start(t, b))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, err := c.WatchEventList(ctx, "default", "involvedObject.name=a")
		if err != nil {
			t.Fatal(err)
		}
		show := func(ev api.EventWatchEvent) string { return ev.Type + " " + ev.Event.Name + " " + ev.Event.Reason }
		if got := nextLine(t, ch, show); got != "ADDED a.1 Pulled" {
			t.Fatalf("first line %q", got)
		}
		b.AddEvent(ev("a.2", "Started"))
		if got := nextLine(t, ch, show); got != "ADDED a.2 Started" {
			t.Errorf("got %q, want ADDED a.2 Started", got)
		}
	})
}
