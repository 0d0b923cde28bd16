package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/sources"
	"github.com/miniagent/miniagent/agent/spec"
	"github.com/miniagent/miniagent/runtime/crilog"
)

var podResource = schema.GroupResource{Resource: "pods"}

// SourceAPI names pods created through the local API.
const SourceAPI = "api"

var _ api.Backend = (*Agent)(nil)

// ApplyPod implements api.Backend. The pod is stored durably before the
// call returns. A pod that exists already is updated in place when only
// what the API server lets change on a running pod changed, and refused
// with the API server's message otherwise.
func (a *Agent) ApplyPod(ctx context.Context, in *v1.Pod) (*v1.Pod, bool, error) {
	return a.applyPod(in, false)
}

// ReplacePod implements api.Backend: ApplyPod, but a change an update may
// not make deletes the pod and creates it anew (apply --force).
func (a *Agent) ReplacePod(ctx context.Context, in *v1.Pod) (*v1.Pod, bool, error) {
	return a.applyPod(in, true)
}

func (a *Agent) applyPod(in *v1.Pod, force bool) (*v1.Pod, bool, error) {
	pod := in.DeepCopy()
	spec.SetDefaults(pod)
	if errs := spec.Validate(pod); len(errs) > 0 {
		return nil, false, apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, pod.Name, errs)
	}
	pod.Status = v1.PodStatus{}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations["kubernetes.io/config.source"] = SourceAPI

	a.mu.Lock()
	defer a.mu.Unlock()
	k := key(pod.Namespace, pod.Name)
	if old := a.workers[a.byName[k]]; old != nil {
		if old.source != SourceAPI {
			return nil, false, apierrors.NewConflict(podResource, pod.Name,
				fmt.Errorf("the pod comes from the %s source and can only be changed there", old.source))
		}
		deleting := old.desired.DeletionTimestamp != nil
		if !deleting {
			if pod.Spec.NodeName == "" {
				pod.Spec.NodeName = old.desired.Spec.NodeName // bound already, as the API server keeps it
			}
			if equality.Semantic.DeepEqual(old.desired.Spec, pod.Spec) &&
				equality.Semantic.DeepEqual(old.desired.Labels, pod.Labels) &&
				equality.Semantic.DeepEqual(old.desired.Annotations, pod.Annotations) {
				return old.viewLocked(), false, nil
			}
			errs := spec.ValidatePodUpdate(pod, old.desired)
			if len(errs) == 0 {
				stored, err := a.updatePodLocked(old, pod)
				return stored, false, err
			}
			if !force {
				return nil, false, apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, pod.Name, errs)
			}
			// --force: the old pod stops, the new one starts once it is gone.
			if err := a.deletePodLocked(old, nil); err != nil {
				return nil, false, apierrors.NewInternalError(err)
			}
		}
		pod.Generation = old.desired.Generation + 1
	} else {
		pod.Generation = 1
	}
	pod.UID = uuid.NewUUID()
	pod.CreationTimestamp = metav1.NewTime(a.clock.Now())
	pod.ResourceVersion = ""
	w, err := a.addPodLocked(pod, SourceAPI)
	if err != nil {
		return nil, false, apierrors.NewInternalError(err)
	}
	return w.snap.Load().pod.DeepCopy(), pod.Generation == 1, nil
}

// updatePodLocked changes a pod in place (same UID): its labels,
// annotations and the spec fields ValidatePodUpdate allows. The new
// desired pod is persisted first; the worker then takes it over.
func (a *Agent) updatePodLocked(w *podWorker, pod *v1.Pod) (*v1.Pod, error) {
	d := w.desired.DeepCopy()
	if !equality.Semantic.DeepEqual(d.Spec, pod.Spec) {
		d.Generation++
	}
	d.Labels, d.Annotations, d.Spec = pod.Labels, pod.Annotations, *pod.Spec.DeepCopy()
	prev := w.desired
	w.desired = d
	if err := a.persistDesiredLocked(w); err != nil {
		w.desired = prev
		return nil, apierrors.NewInternalError(fmt.Errorf("store pod update: %w", err))
	}
	w.requestUpdate(d.DeepCopy())
	return w.viewLocked(), nil
}

// viewLocked is the pod as the API shows it: the worker's snapshot, with
// the metadata and spec of an in-place update the worker has not taken
// yet (the API server, too, answers with the stored object at once).
// The caller holds a.mu.
func (w *podWorker) viewLocked() *v1.Pod {
	out := w.snap.Load().pod.DeepCopy()
	if d := w.desired; d.DeletionTimestamp == nil && d.UID == out.UID {
		out.Labels, out.Annotations, out.Generation = d.Labels, d.Annotations, d.Generation
		out.Spec = *d.Spec.DeepCopy()
	}
	return out
}

// visibleLocked returns the worker of the pod a name shows, or nil.
func (a *Agent) visibleLocked(namespace, name string) *podWorker {
	return a.workers[a.byName[key(namespace, name)]]
}

// DeletePod implements api.Backend. The deletion is stored durably before
// the call returns.
func (a *Agent) DeletePod(ctx context.Context, namespace, name string, grace *int64, wait bool) (*v1.Pod, error) {
	a.mu.Lock()
	w := a.visibleLocked(namespace, name)
	if w == nil {
		a.mu.Unlock()
		return nil, apierrors.NewNotFound(podResource, name)
	}
	if w.source == sources.SourceAPIServer {
		a.mu.Unlock()
		return nil, apierrors.NewConflict(podResource, name,
			errors.New("the pod comes from the API server: delete it there (kubectl delete pod)"))
	}
	if err := a.deletePodLocked(w, grace); err != nil {
		a.mu.Unlock()
		return nil, apierrors.NewInternalError(err)
	}
	pod := w.snap.Load().pod.DeepCopy()
	pod.DeletionTimestamp = w.desired.DeletionTimestamp
	pod.DeletionGracePeriodSeconds = w.desired.DeletionGracePeriodSeconds
	a.mu.Unlock()
	if wait {
		select {
		case <-w.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return pod, nil
}

// GetPod implements api.Backend.
func (a *Agent) GetPod(ctx context.Context, namespace, name string) (*v1.Pod, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.visibleLocked(namespace, name)
	if w == nil {
		return nil, apierrors.NewNotFound(podResource, name)
	}
	return w.viewLocked(), nil
}

// ListPods implements api.Backend.
func (a *Agent) ListPods(ctx context.Context, namespace string) ([]v1.Pod, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []v1.Pod
	for _, uid := range a.byName {
		w := a.workers[uid]
		if namespace != "" && w.snap.Load().pod.Namespace != namespace {
			continue
		}
		out = append(out, *w.viewLocked())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// WatchPods implements api.Backend.
func (a *Agent) WatchPods(ctx context.Context, namespace string) (<-chan api.WatchEvent, error) {
	ch := make(chan api.WatchEvent, 256)
	a.mu.Lock()
	a.watchers[ch] = namespace
	a.mu.Unlock()
	go func() {
		<-ctx.Done()
		a.mu.Lock()
		if _, ok := a.watchers[ch]; ok {
			delete(a.watchers, ch)
			close(ch)
		}
		a.mu.Unlock()
	}()
	return ch, nil
}

// PodLogs implements api.Backend.
func (a *Agent) PodLogs(ctx context.Context, namespace, name string, opts api.LogOptions, w io.Writer) error {
	a.mu.Lock()
	pw := a.visibleLocked(namespace, name)
	a.mu.Unlock()
	if pw == nil {
		return apierrors.NewNotFound(podResource, name)
	}
	s := pw.snap.Load()
	cname := opts.Container
	if cname == "" {
		if len(s.pod.Spec.Containers) != 1 {
			var names []string
			for _, c := range s.pod.Spec.Containers {
				names = append(names, c.Name)
			}
			return apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", name, names))
		}
		cname = s.pod.Spec.Containers[0].Name
	}
	if c, _ := findContainer(s.pod, cname); c == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", cname, name))
	}
	cl := s.logs[cname]
	ref := cl.current
	if opts.Previous {
		ref = cl.previous
		if cl.inBackoff {
			ref = cl.current // in back-off, the dead instance is the previous one
		}
	}
	if ref.path == "" {
		if opts.Previous {
			return apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", cname, name))
		}
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start", cname, name))
	}
	tail := int64(-1)
	if opts.TailLines != nil {
		tail = *opts.TailLines
	}
	var since time.Time
	switch {
	case opts.SinceSeconds != nil:
		since = a.clock.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	case opts.SinceTime != nil:
		since = opts.SinceTime.Time
	}
	if opts.LimitBytes != nil {
		w = &limitWriter{w: w, left: *opts.LimitBytes}
	}
	err := crilog.ReadLog(ctx, ref.path, crilog.ReadOptions{
		Timestamps: opts.Timestamps,
		TailLines:  tail,
		Follow:     opts.Follow,
		Since:      since,
		StopFollow: func() bool {
			s := pw.snap.Load()
			select {
			case <-pw.done:
				return true
			default:
			}
			cur := s.logs[cname].current
			return cur.id != ref.id || cur.exited
		},
	}, w)
	if errors.Is(err, errLogLimit) {
		return nil
	}
	return err
}

// errLogLimit ends a log read that reached its limitBytes.
var errLogLimit = errors.New("log limit reached")

// limitWriter passes on at most left bytes, then fails with errLogLimit,
// as kubelet's LimitedWriter does for limitBytes.
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errLogLimit
	}
	short := int64(len(p)) > l.left
	if short {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if err == nil && short {
		err = errLogLimit
	}
	return n, err
}

// PodEvents implements api.Backend.
func (a *Agent) PodEvents(ctx context.Context, namespace, name string) ([]v1.Event, error) {
	a.mu.Lock()
	w := a.visibleLocked(namespace, name)
	a.mu.Unlock()
	if w == nil {
		return nil, nil
	}
	return a.events.list(w.uid), nil
}

// WatchEvents implements api.Backend.
func (a *Agent) WatchEvents(ctx context.Context, namespace string) (<-chan api.EventWatchEvent, error) {
	all := a.events.watch(ctx)
	if namespace == "" {
		return all, nil
	}
	out := make(chan api.EventWatchEvent)
	go func() {
		defer close(out)
		for ev := range all {
			if ev.Event.Namespace != namespace {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}

// Node implements api.Backend. Its status.images are the runtime's images
// (none if the runtime cannot list them, as kubelet's setter does).
func (a *Agent) Node(ctx context.Context) (*v1.Node, error) {
	n := a.buildNode(ctx)
	if imgs, err := a.rt.ListImages(ctx); err == nil {
		n.Status.Images = nodeImages(imgs)
	}
	return n, nil
}
