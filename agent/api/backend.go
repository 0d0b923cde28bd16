package api

import (
	"context"
	"io"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Backend is what the API server serves. The agent implements it. Errors
// returned are k8s.io/apimachinery/pkg/api/errors values (NewNotFound,
// NewInvalid, NewBadRequest, NewAlreadyExists, ...) so their metav1.Status
// (code, reason, message, details) goes to the client unchanged; any other
// error becomes a 500 InternalError.
type Backend interface {
	// ApplyPod creates the pod, or updates an existing pod with the same
	// namespace/name. The pod is
	// decoded but not yet defaulted or validated: the backend does both and
	// returns NewInvalid listing every problem. It returns the stored pod.
	// A pod that exists is updated in place (same UID) when only what the
	// API server lets change on a running pod changed (labels,
	// annotations, images, activeDeadlineSeconds lowered, tolerations
	// added); any other change is NewInvalid with the API server's message.
	ApplyPod(ctx context.Context, pod *v1.Pod) (stored *v1.Pod, created bool, err error)
	// ReplacePod is ApplyPod, except that a change an update may not make
	// deletes the pod and creates it anew (kubectl apply --force).
	ReplacePod(ctx context.Context, pod *v1.Pod) (stored *v1.Pod, created bool, err error)
	// DeletePod stops the pod (gracePeriod nil = the pod's own) and forgets it
	// once everything is removed. It returns the pod as it was when deletion
	// began. wait=true returns only after everything is removed.
	DeletePod(ctx context.Context, namespace, name string, gracePeriod *int64, wait bool) (*v1.Pod, error)
	// GetPod returns a copy of the pod with its current status.
	GetPod(ctx context.Context, namespace, name string) (*v1.Pod, error)
	// ListPods returns copies of all pods, in namespace or in all if namespace is "".
	ListPods(ctx context.Context, namespace string) ([]v1.Pod, error)
	// WatchPods sends a copy of a pod each time its spec or status changes
	// (Type "ADDED", "MODIFIED", "DELETED"), until ctx ends.
	WatchPods(ctx context.Context, namespace string) (<-chan WatchEvent, error)
	// PodLogs writes the CRI log of one container instance to w as plain lines.
	// container "" means the only container (error if several). previous
	// selects the instance before the current one. follow keeps writing until
	// the instance exits or ctx ends.
	PodLogs(ctx context.Context, namespace, name string, opts LogOptions, w io.Writer) error
	// PodEvents returns the events recorded for one pod, oldest first.
	PodEvents(ctx context.Context, namespace, name string) ([]v1.Event, error)
	// WatchEvents sends each event recorded ("ADDED") or updated with a
	// higher count ("MODIFIED") from now on, in namespace ("" = all), until
	// ctx ends; then the channel closes.
	WatchEvents(ctx context.Context, namespace string) (<-chan EventWatchEvent, error)
	// Node returns the node object (labels, taints, capacity, conditions, ...).
	Node(ctx context.Context) (*v1.Node, error)
	// UpdateNode replaces the node's labels and taints with those of node
	// (other fields are ignored; the kubernetes.io/hostname, os and arch
	// labels cannot be changed). The change is persisted across agent
	// restarts; a new NoExecute taint evicts pods that do not tolerate it.
	// It returns the updated node, or NewInvalid / NewConflict errors.
	UpdateNode(ctx context.Context, node *v1.Node) (*v1.Node, error)
	// Stats returns the node's and the running containers' CPU and memory
	// use, read from their cgroups.
	Stats(ctx context.Context) (*Summary, error)
}

// LogOptions select what PodLogs writes.
type LogOptions struct {
	Container  string
	Previous   bool
	Follow     bool
	Timestamps bool
	TailLines  *int64
	// SinceSeconds or SinceTime (at most one) drop older lines; LimitBytes
	// ends the output after that many bytes.
	SinceSeconds *int64
	SinceTime    *metav1.Time
	LimitBytes   *int64
}

// EventWatchEvent is one change seen by WatchEvents.
type EventWatchEvent struct {
	Type  string // ADDED, MODIFIED
	Event v1.Event
}

// WatchEvent is one change seen by WatchPods.
type WatchEvent struct {
	Type string // ADDED, MODIFIED, DELETED
	Pod  v1.Pod
}
