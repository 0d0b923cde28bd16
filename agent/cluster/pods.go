package cluster

import (
	"context"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent/sources"
	"github.com/miniagent/miniagent/agent/statusmanager"
)

// Pods connects the agent's pods to the API server: Source is the pod
// source of the pods bound to this node (sources.APIServerSource), and
// PodStatus, given to the agent as its agent.Options.OnPodStatus, hands
// every status the pod workers publish for those pods to the status
// manager, which writes them (patch with a UID precondition, only on
// change, resynced; the final delete with grace 0). The manager compares
// with the source's reflector cache on its resyncs.
//
// Static pods (source "file") have no API server pod of their own: their
// mirror pods stand for them. SetMirrorUID installs the lookup from a
// static pod to its mirror pod's UID; with it a static pod's status is
// written to its mirror pod (same namespace and name), without it static
// pods' statuses are not written.
type Pods struct {
	Source  *sources.APIServerSource
	Manager *statusmanager.Manager

	mu     sync.Mutex
	mirror func(static *v1.Pod) (types.UID, bool)
}

// PodsOptions configure NewPods.
type PodsOptions struct {
	Client   kubernetes.Interface
	NodeName string
	Clock    clock.WithTicker // nil: the real clock
	Log      *slog.Logger
	// Resync is the status manager's resync period (0: the kubelet's 10 s).
	Resync time.Duration
}

// NewPods returns the pod source and the status manager of one node.
func NewPods(o PodsOptions) *Pods {
	src := sources.NewAPIServerSource(o.Client, o.NodeName, o.Log)
	return &Pods{
		Source: src,
		Manager: statusmanager.New(statusmanager.Options{
			Client: o.Client, Clock: o.Clock, Log: o.Log, Resync: o.Resync, Cached: src.Cached,
		}),
	}
}

// Run runs the status manager until ctx ends (the source runs as one of
// the agent's sources).
func (p *Pods) Run(ctx context.Context) { p.Manager.Run(ctx) }

// SetMirrorUID installs the static pod → mirror pod UID lookup (see Pods).
// lookup is called from the pod workers' goroutines and must not block;
// false: the static pod has no mirror pod (yet), its status is not written.
func (p *Pods) SetMirrorUID(lookup func(static *v1.Pod) (types.UID, bool)) {
	p.mu.Lock()
	p.mirror = lookup
	p.mu.Unlock()
}

// PodStatus is the agent's agent.PodStatusFunc: a pod from the API server
// has its status written under its own UID, a static pod under its mirror
// pod's UID; the local API's pods are the agent's own and never written.
func (p *Pods) PodStatus(pod *v1.Pod, source string, finished bool) {
	switch source {
	case sources.SourceAPIServer:
		p.Manager.SetStatus(pod.Namespace, pod.Name, pod.UID, pod.Status, finished)
	case sources.SourceFile:
		p.mu.Lock()
		lookup := p.mirror
		p.mu.Unlock()
		if lookup == nil {
			return
		}
		// Never finished: the status manager would delete a finished pod
		// being deleted, and a mirror pod's life is the Mirrors' business.
		if uid, ok := lookup(pod); ok {
			p.Manager.SetStatus(pod.Namespace, pod.Name, uid, pod.Status, false)
		}
	}
}
