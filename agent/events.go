package agent

import (
	"context"
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent/api"
)

// maxEventsPerPod bounds the events kept for one pod.
const maxEventsPerPod = 100

// eventStore keeps kubelet-style events per pod, folding repeats into a
// count as the event recorder does.
type eventStore struct {
	clock clock.PassiveClock
	host  string
	mu    sync.Mutex
	byPod map[types.UID][]v1.Event
	seq   int
	// subs receive every recorded or updated event; a full channel loses it.
	subs map[chan api.EventWatchEvent]struct{}
}

func newEventStore(clk clock.PassiveClock, host string) *eventStore {
	return &eventStore{clock: clk, host: host, byPod: map[types.UID][]v1.Event{}, subs: map[chan api.EventWatchEvent]struct{}{}}
}

func (s *eventStore) normal(pod *v1.Pod, reason, msg string) {
	s.record(pod, "", v1.EventTypeNormal, reason, msg)
}

func (s *eventStore) warn(pod *v1.Pod, reason, msg string) {
	s.record(pod, "", v1.EventTypeWarning, reason, msg)
}

// containerNormal and containerWarn record an event about one container
// of the pod: its involvedObject.fieldPath names it, as kubelet's do.
func (s *eventStore) containerNormal(pod *v1.Pod, container, reason, msg string) {
	s.record(pod, container, v1.EventTypeNormal, reason, msg)
}

func (s *eventStore) containerWarn(pod *v1.Pod, container, reason, msg string) {
	s.record(pod, container, v1.EventTypeWarning, reason, msg)
}

// containerFieldPath is kubelet's fieldPath of a container of the pod:
// spec.initContainers{name} or spec.containers{name}; "" for no container.
func containerFieldPath(pod *v1.Pod, name string) string {
	if name == "" {
		return ""
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return "spec.initContainers{" + name + "}"
		}
	}
	return "spec.containers{" + name + "}"
}

func (s *eventStore) record(pod *v1.Pod, container, typ, reason, msg string) {
	now := metav1.NewTime(s.clock.Now())
	fieldPath := containerFieldPath(pod, container)
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := s.byPod[pod.UID]
	for i := range evs {
		e := &evs[i]
		if e.Type == typ && e.Reason == reason && e.Message == msg && e.InvolvedObject.FieldPath == fieldPath {
			e.Count++
			e.LastTimestamp = now
			// Keep the most recent at the end.
			ev := *e
			evs = append(append(evs[:i:i], evs[i+1:]...), ev)
			s.byPod[pod.UID] = evs
			s.notifyLocked("MODIFIED", ev)
			return
		}
	}
	s.seq++
	evs = append(evs, v1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:              fmt.Sprintf("%s.%x", pod.Name, s.seq),
			Namespace:         pod.Namespace,
			CreationTimestamp: now,
		},
		InvolvedObject: v1.ObjectReference{
			Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1",
			FieldPath: fieldPath,
		},
		Reason:         reason,
		Message:        msg,
		Source:         v1.EventSource{Component: "kubelet", Host: s.host},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
		Type:           typ,
	})
	if len(evs) > maxEventsPerPod {
		evs = evs[len(evs)-maxEventsPerPod:]
	}
	s.byPod[pod.UID] = evs
	s.notifyLocked("ADDED", evs[len(evs)-1])
}

func (s *eventStore) notifyLocked(typ string, ev v1.Event) {
	for ch := range s.subs {
		select {
		case ch <- api.EventWatchEvent{Type: typ, Event: ev}:
		default: // a watcher that does not keep up loses events, never blocks a worker
		}
	}
}

// watch sends each event recorded or updated from now on until ctx ends,
// then closes the channel.
func (s *eventStore) watch(ctx context.Context) <-chan api.EventWatchEvent {
	ch := make(chan api.EventWatchEvent, 256)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		delete(s.subs, ch)
		close(ch)
		s.mu.Unlock()
	}()
	return ch
}

// list returns a copy of a pod's events, oldest first.
func (s *eventStore) list(uid types.UID) []v1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]v1.Event(nil), s.byPod[uid]...)
}

// forget drops a pod's events.
func (s *eventStore) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byPod, uid)
}
