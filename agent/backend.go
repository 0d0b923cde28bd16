package agent

import (
	"context"
	"fmt"
	"io"
	"sort"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/spec"
	"github.com/miniagent/miniagent/runtime/crilog"
)

var podResource = schema.GroupResource{Resource: "pods"}

// SourceAPI names pods created through the local API.
const SourceAPI = "api"

var _ api.Backend = (*Agent)(nil)

// ApplyPod implements api.Backend.
func (a *Agent) ApplyPod(ctx context.Context, in *v1.Pod) (*v1.Pod, bool, error) {
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
	if uid, ok := a.byName[k]; ok {
		old := a.pods[uid]
		if old.Source != SourceAPI {
			return nil, false, apierrors.NewConflict(podResource, pod.Name,
				fmt.Errorf("the pod comes from the %s source and can only be changed there", old.Source))
		}
		if !old.Deleting && equality.Semantic.DeepEqual(old.Pod.Spec, pod.Spec) &&
			equality.Semantic.DeepEqual(old.Pod.Labels, pod.Labels) {
			return a.buildPodLocked(old), false, nil
		}
		// A changed spec replaces the pod: the old one stops, the new one
		// starts once it is gone.
		if !old.Deleting {
			a.deletePodLocked(uid, nil)
		}
		pod.Generation = old.Pod.Generation + 1
	} else {
		pod.Generation = 1
	}
	pod.UID = uuid.NewUUID()
	pod.CreationTimestamp = metav1.NewTime(a.clock.Now())
	pod.ResourceVersion = ""
	a.addPodLocked(pod, SourceAPI)
	return a.buildPodLocked(a.pods[pod.UID]), pod.Generation == 1, nil
}

// DeletePod implements api.Backend.
func (a *Agent) DeletePod(ctx context.Context, namespace, name string, grace *int64, wait bool) (*v1.Pod, error) {
	a.mu.Lock()
	uid, ok := a.byName[key(namespace, name)]
	if !ok {
		a.mu.Unlock()
		return nil, apierrors.NewNotFound(podResource, name)
	}
	a.deletePodLocked(uid, grace)
	pod := a.buildPodLocked(a.pods[uid])
	w := a.workers[uid]
	a.mu.Unlock()
	a.publish(uid)
	if wait && w != nil {
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
	uid, ok := a.byName[key(namespace, name)]
	if !ok {
		return nil, apierrors.NewNotFound(podResource, name)
	}
	return a.buildPodLocked(a.pods[uid]), nil
}

// ListPods implements api.Backend.
func (a *Agent) ListPods(ctx context.Context, namespace string) ([]v1.Pod, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []v1.Pod
	for _, uid := range a.byName {
		rec := a.pods[uid]
		if namespace != "" && rec.Pod.Namespace != namespace {
			continue
		}
		out = append(out, *a.buildPodLocked(rec))
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
	uid, ok := a.byName[key(namespace, name)]
	if !ok {
		a.mu.Unlock()
		return apierrors.NewNotFound(podResource, name)
	}
	rec := a.pods[uid]
	cname := opts.Container
	if cname == "" {
		if len(rec.Pod.Spec.Containers) != 1 {
			var names []string
			for _, c := range rec.Pod.Spec.Containers {
				names = append(names, c.Name)
			}
			a.mu.Unlock()
			return apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", name, names))
		}
		cname = rec.Pod.Spec.Containers[0].Name
	}
	if c, _ := findContainer(rec.Pod, cname); c == nil {
		a.mu.Unlock()
		return apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", cname, name))
	}
	c := rec.Containers[cname]
	var in *instance
	if c != nil {
		in = c.Current
		if opts.Previous {
			in = c.Last
			if c.Current != nil && c.Current.Exited && c.Waiting != nil {
				in = c.Current // in back-off, the dead instance is the previous one
			}
		}
	}
	a.mu.Unlock()
	if in == nil {
		if opts.Previous {
			return apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", cname, name))
		}
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start", cname, name))
	}
	tail := int64(-1)
	if opts.TailLines != nil {
		tail = *opts.TailLines
	}
	return crilog.ReadLog(ctx, in.LogPath, crilog.ReadOptions{
		Timestamps: opts.Timestamps,
		TailLines:  tail,
		Follow:     opts.Follow,
		StopFollow: func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return in.Exited || a.pods[uid] == nil
		},
	}, w)
}

// PodEvents implements api.Backend.
func (a *Agent) PodEvents(ctx context.Context, namespace, name string) ([]v1.Event, error) {
	a.mu.Lock()
	uid, ok := a.byName[key(namespace, name)]
	a.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return a.events.list(uid), nil
}

// Node implements api.Backend.
func (a *Agent) Node(ctx context.Context) (*v1.Node, error) {
	return a.buildNode(ctx), nil
}
