package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedv1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent/api"
)

// Defaults of EventsOptions.
const (
	// DefaultMirrorWait is how long the events of a static pod wait for its
	// mirror pod before they are posted about the static pod itself (the
	// apiserver may be away for a while when the static pod starts).
	DefaultMirrorWait = 2 * time.Minute
	// maxPendingPerPod bounds the events of one static pod held for its
	// mirror pod; older ones are dropped first.
	maxPendingPerPod = 100
)

// LocalEvents is the agent's event stream (agent.Agent implements it).
type LocalEvents interface {
	WatchEvents(ctx context.Context, namespace string) (<-chan api.EventWatchEvent, error)
}

// EventsOptions configure Events.
type EventsOptions struct {
	// Client posts the events; kubelet gives it its own rate limit
	// (--event-qps 50, --event-burst 100).
	Client   kubernetes.Interface
	Local    LocalEvents
	NodeName string
	// Mirrors, if set, makes a static pod's events those of its mirror pod.
	Mirrors    *Mirrors
	MirrorWait time.Duration    // 0: DefaultMirrorWait
	Clock      clock.WithTicker // nil: the real clock
	Log        *slog.Logger
	// RetryDelay is the broadcaster's wait between two tries of an event
	// the apiserver did not answer (0: record's 10 s; tests shorten it).
	RetryDelay time.Duration
}

// Events posts the agent's events to the apiserver through client-go's
// record package, as kubelet does: its broadcaster, with the correlator
// folding repeats into a count (PATCH of the existing event), the
// aggregator merging more than 10 similar events in 10 minutes, and the
// spam filter (a token bucket of 25 events per object, refilled one every
// 5 minutes). Source component "kubelet", host the node name.
//
// The involvedObject is the apiserver's object: a pod's own
// namespace/name/UID (and fieldPath spec.containers{name} for container
// events), for a static pod its mirror pod; static pod events seen before
// the mirror pod exists are held (up to maxPendingPerPod a pod) until it
// does, or for MirrorWait, then posted about the static pod itself.
//
// While the apiserver is unreachable, the broadcaster retries each event
// 12 times, RetryDelay apart (about 2 minutes with record's 10 s), one
// event at a time; up to 1000 more wait in its queue meanwhile and are
// sent in order once it answers. Beyond that queue, or an outage longer
// than the retries of the event at its head, events are dropped (and
// logged by record): they are best effort, as in kubelet.
type Events struct {
	o        EventsOptions
	b        record.EventBroadcaster
	recorder record.EventRecorder
	nodeRef  *v1.ObjectReference
	pending  map[types.UID]*pendingEvents
}

type pendingEvents struct {
	since time.Time
	evs   []v1.Event
}

// NewEvents checks the options and starts the broadcaster's sink, so that
// node events recorded before Run are posted too.
func NewEvents(o EventsOptions) (*Events, error) {
	if o.Client == nil || o.Local == nil {
		return nil, errors.New("cluster events: Client and Local are required")
	}
	if o.NodeName == "" {
		return nil, errors.New("--node-name: must not be empty in cluster mode")
	}
	if o.MirrorWait <= 0 {
		o.MirrorWait = DefaultMirrorWait
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var opts []record.BroadcasterOption
	if o.RetryDelay > 0 {
		opts = append(opts, record.WithSleepDuration(o.RetryDelay))
	}
	b := record.NewBroadcaster(opts...)
	b.StartRecordingToSink(&typedv1.EventSinkImpl{Interface: o.Client.CoreV1().Events("")})
	return &Events{
		o: o, b: b,
		recorder: b.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: o.NodeName}),
		// kubelet's node reference: the node's name as its UID, so that the
		// events survive the Node being re-created.
		nodeRef: &v1.ObjectReference{Kind: "Node", Name: o.NodeName, UID: types.UID(o.NodeName)},
		pending: map[types.UID]*pendingEvents{},
	}, nil
}

// NodeEvent records an event about the Node.
func (e *Events) NodeEvent(eventType, reason, message string) {
	e.recorder.Event(e.nodeRef, eventType, reason, message)
}

// Run forwards the agent's events until ctx ends, then shuts the
// broadcaster down (events still queued are lost, as when kubelet stops).
func (e *Events) Run(ctx context.Context) error {
	defer e.b.Shutdown()
	ch, err := e.o.Local.WatchEvents(ctx, "")
	if err != nil {
		return fmt.Errorf("watch the agent's events: %w", err)
	}
	var changed <-chan struct{}
	if e.o.Mirrors != nil {
		changed = e.o.Mirrors.changes()
	}
	e.NodeEvent(v1.EventTypeNormal, "Starting", "Starting miniagent.")
	tick := e.o.Clock.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			e.forward(ctx, ev.Event)
		case <-changed:
			e.flush(ctx)
		case <-tick.C():
			e.flush(ctx)
		}
	}
}

// forward posts one occurrence of a local event (an ADDED or a MODIFIED
// with its count moved on: record's correlator counts again).
func (e *Events) forward(ctx context.Context, ev v1.Event) {
	ref := ev.InvolvedObject
	if ref.Kind == "Pod" && e.o.Mirrors != nil {
		mirror, static, ok := e.o.Mirrors.lookup(ctx, ref)
		switch {
		case ok:
			ref = mirrorObjectRef(ref, mirror)
		case static:
			p := e.pending[ref.UID]
			if p == nil {
				p = &pendingEvents{since: e.o.Clock.Now()}
				e.pending[ref.UID] = p
			}
			if p.evs = append(p.evs, ev); len(p.evs) > maxPendingPerPod {
				p.evs = p.evs[len(p.evs)-maxPendingPerPod:]
			}
			return
		}
	}
	e.post(ref, ev)
}

// flush posts the held events of static pods whose mirror pod now exists,
// or that waited MirrorWait.
func (e *Events) flush(ctx context.Context) {
	now := e.o.Clock.Now()
	for uid, p := range e.pending {
		ref := p.evs[0].InvolvedObject
		mirror, _, ok := e.o.Mirrors.lookup(ctx, ref)
		if !ok && now.Sub(p.since) < e.o.MirrorWait {
			continue
		}
		for _, ev := range p.evs {
			r := ev.InvolvedObject
			if ok {
				r = mirrorObjectRef(r, mirror)
			}
			e.post(r, ev)
		}
		delete(e.pending, uid)
	}
}

func (e *Events) post(ref v1.ObjectReference, ev v1.Event) {
	e.recorder.Event(&ref, ev.Type, ev.Reason, ev.Message)
}

// mirrorObjectRef is ref (a static pod's, with its fieldPath) pointed at
// the mirror pod.
func mirrorObjectRef(ref v1.ObjectReference, m MirrorRef) v1.ObjectReference {
	ref.Namespace, ref.Name, ref.UID = m.Namespace, m.Name, m.UID
	return ref
}
