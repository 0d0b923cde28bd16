package cluster

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"

	"github.com/miniagent/miniagent/agent/sources"
)

// NodeSink is told the Node as the apiserver has it, on every change
// (agent.Agent.SetAPIServerNode): admission and the taint manager then use
// its labels and taints, as kubelet's use its Node from the informer.
type NodeSink interface {
	SetAPIServerNode(node *v1.Node)
}

// watchNode lists and watches this agent's own Node (field selector
// metadata.name, which the Node authorizer allows a node) and hands every
// version to o.Sink until ctx ends. A deleted Node is not handed over: the
// last labels and taints stay until the Node is registered again.
func (n *Node) watchNode(ctx context.Context) {
	selector := fields.OneTermEqualSelector("metadata.name", n.o.NodeName).String()
	nodes := n.o.Client.CoreV1().Nodes()
	lw := sources.Selected(selector, nodes.List, nodes.Watch)
	hand := func(obj any) {
		if node, ok := obj.(*v1.Node); ok && node.Name == n.o.NodeName {
			n.o.Sink.SetAPIServerNode(node)
		}
	}
	_, ctl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, n.o.Client),
		ObjectType:    &v1.Node{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    hand,
			UpdateFunc: func(_, obj any) { hand(obj) },
		},
	})
	ctl.RunWithContext(ctx)
}
