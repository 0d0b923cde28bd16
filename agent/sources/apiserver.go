package sources

import (
	"context"
	"log/slog"
	"sort"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/miniagent/miniagent/agent/spec"
)

// SourceAPIServer names the pods bound to this node in a Kubernetes API
// server (cluster mode). The local API's pods are "api".
const SourceAPIServer = "apiserver"

// MirrorAnnotation marks a mirror pod: the API server's copy of a static
// pod, written by the node itself and never run from the API server.
const MirrorAnnotation = "kubernetes.io/config.mirror"

// APIServerSource sends the pods an API server binds to one node, as the
// kubelet's apiserver config source does: a reflector lists and watches
// pods with the field selector spec.nodeName=<node> into an undelta store,
// and every change sends the complete set (SET semantics). Mirror pods are
// left out (their static pods come from the manifest directory). Nothing
// is sent before the first list succeeded, so an unreachable API server
// never looks like an empty set: the pods keep running.
type APIServerSource struct {
	client   kubernetes.Interface
	nodeName string
	log      *slog.Logger
	store    *cache.UndeltaStore
	pushes   chan []*v1.Pod
	// copies are the desired pods made from each pod's resourceVersion
	// (Run's goroutine only): a change of one pod copies only that one.
	copies map[types.UID]desiredCopy
}

type desiredCopy struct {
	resourceVersion string
	pod             *v1.Pod
}

// NewAPIServerSource returns the source of the pods bound to nodeName.
func NewAPIServerSource(client kubernetes.Interface, nodeName string, log *slog.Logger) *APIServerSource {
	if log == nil {
		log = slog.Default()
	}
	s := &APIServerSource{client: client, nodeName: nodeName, log: log.With("source", SourceAPIServer), pushes: make(chan []*v1.Pod, 1), copies: map[types.UID]desiredCopy{}}
	s.store = cache.NewUndeltaStore(s.push, cache.MetaNamespaceKeyFunc)
	return s
}

// push is the undelta store's callback with the whole set after a change.
// It keeps only the newest set for Run to send, so the reflector never
// waits for the agent.
func (s *APIServerSource) push(objs []interface{}) {
	pods := make([]*v1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*v1.Pod); ok {
			pods = append(pods, p)
		}
	}
	for {
		select {
		case s.pushes <- pods:
			return
		default:
		}
		select {
		case <-s.pushes: // an older set nobody took yet: the newest wins
		default:
		}
	}
}

// Run lists and watches until ctx ends, sending each new pod set.
func (s *APIServerSource) Run(ctx context.Context, out chan<- Update) error {
	r := cache.NewReflectorWithOptions(PodsOnNode(s.client, s.nodeName), &v1.Pod{}, s.store, cache.ReflectorOptions{Name: "pods on node " + s.nodeName})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.RunWithContext(ctx)
	}()
	defer func() { <-done }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case set := <-s.pushes:
			u := Update{Source: SourceAPIServer, Pods: s.desired(set)}
			select {
			case out <- u:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// desired turns the API server's pods into the pods the agent is to run:
// this node's, mirror pods left out, copied and defaulted as every source's
// pods are. Their status stays (the agent does not start a pod the API
// server already shows finished). Sorted by namespace and name. The pods
// are shared with later updates: the agent copies what it keeps.
func (s *APIServerSource) desired(set []*v1.Pod) []*v1.Pod {
	out := make([]*v1.Pod, 0, len(set))
	copies := make(map[types.UID]desiredCopy, len(set))
	for _, p := range set {
		if p.Spec.NodeName != s.nodeName {
			continue
		}
		if _, mirror := p.Annotations[MirrorAnnotation]; mirror {
			continue
		}
		c, ok := s.copies[p.UID]
		if !ok || c.resourceVersion != p.ResourceVersion || p.ResourceVersion == "" {
			pod := p.DeepCopy()
			pod.ManagedFields = nil
			spec.SetDefaults(pod)
			c = desiredCopy{resourceVersion: p.ResourceVersion, pod: pod}
		}
		copies[p.UID] = c
		out = append(out, c.pod)
	}
	s.copies = copies
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Cached returns the pod namespace/name as the API server last showed it
// to the reflector, or nil. The object is shared: do not modify it.
func (s *APIServerSource) Cached(namespace, name string) *v1.Pod {
	obj, ok, err := s.store.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	p, _ := obj.(*v1.Pod)
	return p
}

// PodsOnNode lists and watches the pods of every namespace bound to node
// (the field selector spec.nodeName=<node>), as the kubelet watches its
// pods. The client says whether it streams lists (WatchList); client-go's
// fake clientset does not.
func PodsOnNode(client kubernetes.Interface, node string) cache.ListerWatcher {
	pods := client.CoreV1().Pods(metav1.NamespaceAll)
	onNode := fields.OneTermEqualSelector("spec.nodeName", node).String()
	return cache.ToListWatcherWithWatchListSemantics(Selected(onNode, pods.List, pods.Watch), client)
}

// Selected is the list and watch of one resource restricted to the field
// selector selector.
func Selected[L runtime.Object](selector string, list func(context.Context, metav1.ListOptions) (L, error), watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return watchFn(ctx, o)
		},
	}
}
