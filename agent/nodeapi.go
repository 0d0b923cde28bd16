package agent

import (
	"errors"
	"maps"
	"slices"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// apiNode is the apiserver Node's labels and taints, which in cluster mode
// replace the flag-given ones once the Node keeper has seen the Node
// (kubelet admits against its Node object from the informer too).
type apiNode struct {
	labels map[string]string
	taints []v1.Taint
}

// errClusterNode is UpdateNode's answer in cluster mode: the labels and
// taints belong to the cluster's users, who change them with kubectl. The
// agent does not forward the change with its node credentials: the
// NodeRestriction plugin forbids a node to set its own taints and most
// labels, and forwarding would let whoever reaches the agent's socket
// change the cluster's scheduling past the cluster's RBAC.
var errClusterNode = errors.New("this node is a Node of a Kubernetes cluster (--kubeconfig): its labels and taints are the apiserver's; change them with kubectl label node / kubectl taint node")

func (a *Agent) refuseClusterNodeUpdate() error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, a.node.cfg.Name, errClusterNode)
}

// SetAPIServerNode hands the agent its Node as the apiserver has it (cluster
// mode's Node keeper calls it on every change it watches): from then on
// admission, the NoExecute taint manager and the node the API shows use
// its labels and taints. A NoExecute taint without timeAdded is given the
// time the agent first saw it, kept across later updates.
func (a *Agent) SetAPIServerNode(node *v1.Node) {
	a.mu.Lock()
	var prev []v1.Taint
	if a.node.api != nil {
		prev = a.node.api.taints
	}
	next := &apiNode{labels: maps.Clone(node.Labels), taints: stampTaints(prev, node.Spec.Taints, metav1Now(a))}
	changed := a.node.api == nil || !maps.Equal(a.node.api.labels, next.labels) || !taintsEqual(prev, next.taints)
	a.node.api = next
	a.mu.Unlock()
	if changed {
		a.log.Info("node labels and taints from the apiserver", "node", node.Name, "labels", len(next.labels), "taints", len(next.taints))
		a.nodeChanged()
	}
}

// nodeTaintsLocked are the taints admission and the taint manager use: the
// apiserver Node's once known, else the flag-given (or persisted) ones.
func (a *Agent) nodeTaintsLocked() []v1.Taint {
	if a.node.api != nil {
		return a.node.api.taints
	}
	return a.node.cfg.Taints
}

// admissionNodeLocked is the node admission judges against. In cluster
// mode only its NoExecute taints count, as in kubelet's admission: the
// scheduler honours NoSchedule, and a pod bound by nodeName (a DaemonSet's,
// one placed on a cordoned node) runs despite them. Standalone, the agent
// is its own scheduler and NoSchedule taints keep pods off.
func (a *Agent) admissionNodeLocked() *v1.Node {
	node := a.buildNodeLocked()
	if a.node.cfg.Cluster {
		node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t v1.Taint) bool { return t.Effect != v1.TaintEffectNoExecute })
	}
	return node
}

// Taints that the node lifecycle controller puts on a Node it has not
// heard from. The agent sees them only when it is back (and they are
// about to go): in cluster mode the controller-manager evicts for them,
// and the agent's taint manager leaves them out, else an agent back from
// an outage would evict its pods for the outage's length.
const (
	taintNodeNotReady    = "node.kubernetes.io/not-ready"
	taintNodeUnreachable = "node.kubernetes.io/unreachable"
)

// taintManagerTaintsLocked are the taints the NoExecute taint manager acts
// on.
func (a *Agent) taintManagerTaintsLocked() []v1.Taint {
	taints := a.nodeTaintsLocked()
	if a.node.api == nil {
		return taints
	}
	return slices.DeleteFunc(slices.Clone(taints), func(t v1.Taint) bool {
		return t.Key == taintNodeNotReady || t.Key == taintNodeUnreachable
	})
}

// stampTaints copies next; a NoExecute taint without timeAdded takes the
// timeAdded of the same taint (key, value, effect) in prev, or now.
func stampTaints(prev, next []v1.Taint, now metav1.Time) []v1.Taint {
	out := make([]v1.Taint, len(next))
	for i, t := range next {
		out[i] = *t.DeepCopy()
		if t.Effect != v1.TaintEffectNoExecute || t.TimeAdded != nil {
			continue
		}
		at := now
		for _, p := range prev {
			if p.Key == t.Key && p.Value == t.Value && p.Effect == t.Effect && p.TimeAdded != nil {
				at = *p.TimeAdded
				break
			}
		}
		out[i].TimeAdded = &at
	}
	return out
}

func taintsEqual(a, b []v1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect ||
			!a[i].TimeAdded.Equal(b[i].TimeAdded) {
			return false
		}
	}
	return true
}
