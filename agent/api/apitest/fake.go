// Package apitest provides an in-memory api.Backend for tests of the API
// server, its client and the CLI. It records what it was asked to do.
package apitest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/miniagent/miniagent/agent/api"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// DeleteCall is one recorded DeletePod call.
type DeleteCall struct {
	Namespace, Name string
	GracePeriod     *int64
	Wait            bool
}

// Backend is an in-memory api.Backend. Set fields before use; read the
// recorded calls with Applied and Deletes.
type Backend struct {
	// Validate, if set, is called by ApplyPod; its error is returned as is.
	Validate func(*v1.Pod) error
	// NodeObj is what Node returns.
	NodeObj *v1.Node
	// Now is the creation time given to new pods.
	Now time.Time
	// Summary is what Stats returns (nil: a ServiceUnavailable error).
	Summary *api.Summary

	mu       sync.Mutex
	pods     map[string]*v1.Pod
	order    []string
	events   map[string][]v1.Event
	logs     map[string]string
	applied  []*v1.Pod
	deletes  []DeleteCall
	watchers map[chan api.WatchEvent]string
	evWatch  map[chan api.EventWatchEvent]string
	lastLog  api.LogOptions
	nextUID  int
	forced   int
}

var _ api.Backend = (*Backend)(nil)

// New returns an empty fake backend with a node called "node1".
func New() *Backend {
	return &Backend{
		NodeObj:  &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}},
		Now:      time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		pods:     map[string]*v1.Pod{},
		events:   map[string][]v1.Event{},
		logs:     map[string]string{},
		watchers: map[chan api.WatchEvent]string{},
		evWatch:  map[chan api.EventWatchEvent]string{},
	}
}

func key(ns, name string) string { return ns + "/" + name }

func notFound(name string) error { return apierrors.NewNotFound(v1.Resource("pods"), name) }

// SetPod stores pod as is (status included) and tells watchers.
func (b *Backend) SetPod(pod *v1.Pod) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := key(pod.Namespace, pod.Name)
	typ := "MODIFIED"
	if _, ok := b.pods[k]; !ok {
		typ = "ADDED"
		b.order = append(b.order, k)
	}
	b.pods[k] = pod.DeepCopy()
	b.notify(typ, pod)
}

// SetEvents sets the events of one pod.
func (b *Backend) SetEvents(ns, name string, evs []v1.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events[key(ns, name)] = evs
}

// AddEvent appends one event of a pod and tells event watchers (ADDED).
func (b *Backend) AddEvent(ev v1.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := key(ev.InvolvedObject.Namespace, ev.InvolvedObject.Name)
	b.events[k] = append(b.events[k], ev)
	for ch, ns := range b.evWatch {
		if ns == "" || ns == ev.Namespace {
			select {
			case ch <- api.EventWatchEvent{Type: "ADDED", Event: ev}:
			default:
			}
		}
	}
}

// WatchEvents registers an event watcher until ctx ends.
func (b *Backend) WatchEvents(ctx context.Context, ns string) (<-chan api.EventWatchEvent, error) {
	ch := make(chan api.EventWatchEvent, 100)
	b.mu.Lock()
	b.evWatch[ch] = ns
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.evWatch, ch)
		b.mu.Unlock()
		close(ch)
	}()
	return ch, nil
}

// EventWatchers is the number of active event watches.
func (b *Backend) EventWatchers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.evWatch)
}

// SetLog sets the log text of one container.
func (b *Backend) SetLog(ns, name, container, text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logs[key(ns, name)+"/"+container] = text
}

// Applied returns every pod ApplyPod received, in order.
func (b *Backend) Applied() []*v1.Pod {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*v1.Pod(nil), b.applied...)
}

// Deletes returns every DeletePod call, in order.
func (b *Backend) Deletes() []DeleteCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]DeleteCall(nil), b.deletes...)
}

// LastLogOptions returns the options of the last PodLogs call.
func (b *Backend) LastLogOptions() api.LogOptions {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastLog
}

func (b *Backend) notify(typ string, pod *v1.Pod) {
	for ch, ns := range b.watchers {
		if ns != "" && ns != pod.Namespace {
			continue
		}
		select {
		case ch <- api.WatchEvent{Type: typ, Pod: *pod.DeepCopy()}:
		default: // a slow watcher loses events; tests keep up
		}
	}
}

// ApplyPod creates or replaces the spec; an identical spec changes nothing.
func (b *Backend) ApplyPod(_ context.Context, pod *v1.Pod) (*v1.Pod, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applied = append(b.applied, pod.DeepCopy())
	if b.Validate != nil {
		if err := b.Validate(pod); err != nil {
			return nil, false, err
		}
	}
	k := key(pod.Namespace, pod.Name)
	if old, ok := b.pods[k]; ok {
		if apiequality.Semantic.DeepEqual(old.Spec, pod.Spec) && apiequality.Semantic.DeepEqual(old.Labels, pod.Labels) &&
			apiequality.Semantic.DeepEqual(old.Annotations, pod.Annotations) {
			return old.DeepCopy(), false, nil
		}
		old.Spec, old.Labels, old.Annotations = pod.Spec, pod.Labels, pod.Annotations
		old.Generation++
		b.notify("MODIFIED", old)
		return old.DeepCopy(), false, nil
	}
	p := pod.DeepCopy()
	b.nextUID++
	p.UID = types.UID(fmt.Sprintf("uid-%d", b.nextUID))
	p.Generation = 1
	p.CreationTimestamp = metav1.NewTime(b.Now)
	p.Status.Phase = v1.PodPending
	b.pods[k] = p
	b.order = append(b.order, k)
	b.notify("ADDED", p)
	return p.DeepCopy(), true, nil
}

// ReplacePod is ApplyPod (the fake changes pods in place either way); it
// records that force was asked.
func (b *Backend) ReplacePod(ctx context.Context, pod *v1.Pod) (*v1.Pod, bool, error) {
	b.mu.Lock()
	b.forced++
	b.mu.Unlock()
	return b.ApplyPod(ctx, pod)
}

// Forced is the number of ReplacePod calls.
func (b *Backend) Forced() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.forced
}

// DeletePod forgets the pod at once.
func (b *Backend) DeletePod(_ context.Context, ns, name string, grace *int64, wait bool) (*v1.Pod, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deletes = append(b.deletes, DeleteCall{Namespace: ns, Name: name, GracePeriod: grace, Wait: wait})
	k := key(ns, name)
	p, ok := b.pods[k]
	if !ok {
		return nil, notFound(name)
	}
	delete(b.pods, k)
	for i, o := range b.order {
		if o == k {
			b.order = append(b.order[:i], b.order[i+1:]...)
			break
		}
	}
	b.notify("DELETED", p)
	return p.DeepCopy(), nil
}

// GetPod returns a copy of the pod.
func (b *Backend) GetPod(_ context.Context, ns, name string) (*v1.Pod, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.pods[key(ns, name)]
	if !ok {
		return nil, notFound(name)
	}
	return p.DeepCopy(), nil
}

// ListPods returns the pods in creation order.
func (b *Backend) ListPods(_ context.Context, ns string) ([]v1.Pod, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []v1.Pod
	for _, k := range b.order {
		if p := b.pods[k]; ns == "" || p.Namespace == ns {
			out = append(out, *p.DeepCopy())
		}
	}
	return out, nil
}

// WatchPods registers a watcher until ctx ends.
func (b *Backend) WatchPods(ctx context.Context, ns string) (<-chan api.WatchEvent, error) {
	ch := make(chan api.WatchEvent, 100)
	b.mu.Lock()
	b.watchers[ch] = ns
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.watchers, ch)
		b.mu.Unlock()
		close(ch)
	}()
	return ch, nil
}

// Watchers is the number of active watches.
func (b *Backend) Watchers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.watchers)
}

// PodLogs writes the stored text of the container, honouring TailLines.
func (b *Backend) PodLogs(_ context.Context, ns, name string, opts api.LogOptions, w io.Writer) error {
	b.mu.Lock()
	b.lastLog = opts
	p, ok := b.pods[key(ns, name)]
	if !ok {
		b.mu.Unlock()
		return notFound(name)
	}
	c := opts.Container
	if c == "" {
		if len(p.Spec.Containers) != 1 {
			b.mu.Unlock()
			return apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", name))
		}
		c = p.Spec.Containers[0].Name
	}
	text, ok := b.logs[key(ns, name)+"/"+c]
	b.mu.Unlock()
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", c, name))
	}
	if opts.TailLines != nil {
		lines := strings.SplitAfter(text, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if n := int(*opts.TailLines); n < len(lines) {
			lines = lines[len(lines)-n:]
		}
		text = strings.Join(lines, "")
	}
	_, err := io.WriteString(w, text)
	return err
}

// PodEvents returns the stored events of the pod.
func (b *Backend) PodEvents(_ context.Context, ns, name string) ([]v1.Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.pods[key(ns, name)]; !ok {
		return nil, notFound(name)
	}
	return append([]v1.Event(nil), b.events[key(ns, name)]...), nil
}

// Node returns a copy of NodeObj.
func (b *Backend) Node(context.Context) (*v1.Node, error) {
	return b.NodeObj.DeepCopy(), nil
}

// UpdateNode replaces the fake node's labels and taints.
func (b *Backend) UpdateNode(_ context.Context, node *v1.Node) (*v1.Node, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.NodeObj.Labels = node.Labels
	b.NodeObj.Spec.Taints = node.Spec.Taints
	return b.NodeObj.DeepCopy(), nil
}

// Stats returns Summary.
func (b *Backend) Stats(context.Context) (*api.Summary, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Summary == nil {
		return nil, apierrors.NewServiceUnavailable("no stats")
	}
	s := *b.Summary
	return &s, nil
}
