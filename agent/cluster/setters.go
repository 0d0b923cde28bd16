package cluster

import (
	goruntime "runtime"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// inputs is everything the setters read: the agent's own node, the facts
// from flags and the host, and the time. Setters are pure functions of
// (inputs, the Node as the apiserver has it).
type inputs struct {
	local    *v1.Node // agent.Agent.Node: capacity, allocatable, conditions, node info
	nodeIP   string
	hostname string
	port     int32
	ids      systemIDs
	now      time.Time
}

// systemIDs are the host identities kubelet reports in nodeInfo.
type systemIDs struct {
	machineID, systemUUID, bootID string
}

// setter changes one part of the Node's status in place.
type setter func(in inputs, node *v1.Node)

// setters run in kubelet's order; the conditions setter keeps kubelet's
// condition order (MemoryPressure, DiskPressure, PIDPressure, Ready last).
var setters = []setter{setAddresses, setResources, setNodeInfo, setDaemonEndpoints, setImages, setConditions}

// setNodeStatus runs every setter on node.
func setNodeStatus(in inputs, node *v1.Node) {
	for _, s := range setters {
		s(in, node)
	}
}

// setImages sets status.images: the agent's (kubelet's list of images
// with their repo digests and tags, largest first, at most 50).
func setImages(in inputs, node *v1.Node) {
	node.Status.Images = append([]v1.ContainerImage(nil), in.local.Status.Images...)
}

// setAddresses sets InternalIP (--node-ip, else the agent's address) and
// Hostname (the node name: several agents may share one host).
func setAddresses(in inputs, node *v1.Node) {
	ip := in.nodeIP
	if ip == "" {
		for _, a := range in.local.Status.Addresses {
			if a.Type == v1.NodeInternalIP {
				ip = a.Address
				break
			}
		}
	}
	var addrs []v1.NodeAddress
	if ip != "" {
		addrs = append(addrs, v1.NodeAddress{Type: v1.NodeInternalIP, Address: ip})
	}
	node.Status.Addresses = append(addrs, v1.NodeAddress{Type: v1.NodeHostName, Address: in.hostname})
}

// setResources copies capacity and allocatable from the agent, which
// computes them for its own admission (reserved resources, eviction
// thresholds, --max-pods).
func setResources(in inputs, node *v1.Node) {
	node.Status.Capacity = in.local.Status.Capacity.DeepCopy()
	node.Status.Allocatable = in.local.Status.Allocatable.DeepCopy()
}

// setNodeInfo sets nodeInfo: the agent's kernel, OS image, runtime
// (containerd://VERSION) and kubelet versions plus the host identities.
// A runtime version the agent could not read keeps the last one reported.
func setNodeInfo(in inputs, node *v1.Node) {
	li := in.local.Status.NodeInfo
	ni := &node.Status.NodeInfo
	ni.MachineID, ni.SystemUUID, ni.BootID = in.ids.machineID, in.ids.systemUUID, in.ids.bootID
	ni.KernelVersion, ni.OSImage = li.KernelVersion, li.OSImage
	ni.OperatingSystem, ni.Architecture = goruntime.GOOS, goruntime.GOARCH
	ni.KubeletVersion = li.KubeletVersion
	if li.ContainerRuntimeVersion != "" {
		ni.ContainerRuntimeVersion = li.ContainerRuntimeVersion
	}
}

// setDaemonEndpoints advertises the kubelet port.
func setDaemonEndpoints(in inputs, node *v1.Node) {
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = in.port
}

// setConditions takes status, reason and message of each condition from
// the agent. The heartbeat is now; the transition time is kept unless the
// status changed, as kubelet does. Conditions of other types (set by other
// components) stay where they are; new ones are appended in the agent's
// order.
func setConditions(in inputs, node *v1.Node) {
	now := metav1.NewTime(in.now)
	for _, want := range in.local.Status.Conditions {
		i := conditionIndex(node.Status.Conditions, want.Type)
		if i < 0 {
			node.Status.Conditions = append(node.Status.Conditions, v1.NodeCondition{Type: want.Type, Status: want.Status, LastTransitionTime: now})
			i = len(node.Status.Conditions) - 1
		}
		c := &node.Status.Conditions[i]
		if c.Status != want.Status {
			c.Status, c.LastTransitionTime = want.Status, now
		}
		c.Reason, c.Message, c.LastHeartbeatTime = want.Reason, want.Message, now
	}
}

func conditionIndex(conds []v1.NodeCondition, t v1.NodeConditionType) int {
	for i := range conds {
		if conds[i].Type == t {
			return i
		}
	}
	return -1
}

// statusChanged tells whether a patch is due before the report frequency:
// anything but the conditions' heartbeat times differs.
func statusChanged(old, new *v1.NodeStatus) bool {
	if len(old.Conditions) != len(new.Conditions) {
		return true
	}
	for i := range old.Conditions {
		o, n := old.Conditions[i], new.Conditions[i]
		o.LastHeartbeatTime, n.LastHeartbeatTime = metav1.Time{}, metav1.Time{}
		if !apiequality.Semantic.DeepEqual(o, n) {
			return true
		}
	}
	o, n := old.DeepCopy(), new.DeepCopy()
	o.Conditions, n.Conditions = nil, nil
	return !apiequality.Semantic.DeepEqual(o, n)
}

// Annotation kubelet sets at registration: volumes are attached by the
// controller manager, not by the node.
const controllerManagedAttachDetach = "volumes.kubernetes.io/controller-managed-attach-detach"

// defaultLabels are the labels kubelet sets and keeps on its Node.
// node.kubernetes.io/instance-type and the topology labels come from a
// cloud provider, which the agent has none of.
func defaultLabels(hostname string) map[string]string {
	return map[string]string{
		v1.LabelHostname:          hostname,
		v1.LabelOSStable:          goruntime.GOOS,
		v1.LabelArchStable:        goruntime.GOARCH,
		"beta.kubernetes.io/os":   goruntime.GOOS,
		"beta.kubernetes.io/arch": goruntime.GOARCH,
	}
}

// initialNode is the Node the agent registers: default labels and the
// --node-labels, the --register-with-taints, kubelet's annotation and a
// full status.
func initialNode(o Options, in inputs) *v1.Node {
	labels := defaultLabels(in.hostname)
	for k, v := range o.Labels {
		if _, fixed := labels[k]; !fixed {
			labels[k] = v
		}
	}
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        o.NodeName,
			Labels:      labels,
			Annotations: map[string]string{controllerManagedAttachDetach: "true"},
		},
		Spec: v1.NodeSpec{Taints: append([]v1.Taint(nil), o.Taints...)},
	}
	setNodeStatus(in, node)
	return node
}

// reconcileExisting fixes a re-adopted Node as kubelet does: its default
// labels take the values of initial (and are removed when initial has
// none), and kubelet's attach/detach annotation is set. Taints and other
// labels are left to the cluster's users. It reports whether it changed
// anything.
func reconcileExisting(initial, existing *v1.Node) bool {
	changed := false
	if existing.Labels == nil {
		existing.Labels = map[string]string{}
	}
	for k := range defaultLabels("") {
		want, ok := initial.Labels[k]
		got, has := existing.Labels[k]
		switch {
		case ok && (!has || got != want):
			existing.Labels[k] = want
			changed = true
		case !ok && has:
			delete(existing.Labels, k)
			changed = true
		}
	}
	if existing.Annotations[controllerManagedAttachDetach] != "true" {
		if existing.Annotations == nil {
			existing.Annotations = map[string]string{}
		}
		existing.Annotations[controllerManagedAttachDetach] = "true"
		changed = true
	}
	return changed
}
