package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/component-helpers/apimachinery/lease"
)

// Node keeps this agent's Node object and its Lease in the apiserver.
type Node struct {
	o   Options
	ids systemIDs

	mu         sync.Mutex
	lastReport time.Time // of the last status patch
	uid        types.UID // of the Node registered or re-adopted
}

// New checks the options and returns a Node ready to Run.
func New(o Options) (*Node, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Node{o: o, ids: readSystemIDs()}, nil
}

// Run registers (or re-adopts) the Node, then renews its Lease and keeps
// its status until ctx ends. Failures to reach the apiserver are retried,
// never fatal: the pods keep running meanwhile.
func (n *Node) Run(ctx context.Context) error {
	if err := n.register(ctx); err != nil {
		return err
	}
	// kubelet renews every quarter of the lease duration.
	renew := time.Duration(n.o.LeaseDurationSeconds) * time.Second / 4
	lc := lease.NewController(n.o.Clock, n.o.Client, n.o.NodeName, n.o.LeaseDurationSeconds, nil,
		renew, n.o.NodeName, v1.NamespaceNodeLease, n.setLeaseOwner(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { lc.Run(ctx) })
	if n.o.Sink != nil {
		wg.Go(func() { n.watchNode(ctx) })
	}
	defer wg.Wait()

	t := n.o.Clock.NewTicker(n.o.StatusUpdateFrequency)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			if err := n.updateStatus(ctx); err != nil && ctx.Err() == nil {
				n.o.Log.Warn("node status not updated", "node", n.o.NodeName, "err", err)
			}
		}
	}
}

// UID is the UID of the Node registered or re-adopted ("" before).
func (n *Node) UID() types.UID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.uid
}

// register retries tryRegister with kubelet's back-off (100 ms doubling
// to 7 s) until it succeeds or ctx ends.
func (n *Node) register(ctx context.Context) error {
	delay := 100 * time.Millisecond
	for {
		err := n.tryRegister(ctx)
		if err == nil {
			return nil
		}
		n.o.Log.Warn("node not registered yet", "node", n.o.NodeName, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.o.Clock.After(delay):
		}
		delay = min(2*delay, 7*time.Second)
	}
}

// tryRegister creates the Node, or re-adopts the existing one and fixes
// its default labels; then it patches the status once.
func (n *Node) tryRegister(ctx context.Context) error {
	nodes := n.o.Client.CoreV1().Nodes()
	in, err := n.inputs(ctx)
	if err != nil {
		return err
	}
	initial := initialNode(n.o, in)
	if n.o.RegisterNode {
		created, err := nodes.Create(ctx, initial, metav1.CreateOptions{})
		if err == nil {
			n.adopted(created, in.now)
			recordNodeEvents(n.o.Events, n.o.NodeName, &v1.NodeStatus{}, &created.Status)
			n.o.Log.Info("node registered", "node", created.Name, "uid", created.UID)
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %q: %w", n.o.NodeName, err)
		}
	}
	existing, err := nodes.Get(ctx, n.o.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node %q: %w", n.o.NodeName, err)
	}
	fixed := existing.DeepCopy()
	if reconcileExisting(initial, fixed) {
		patch, err := twoWayPatch(existing, fixed)
		if err != nil {
			return err
		}
		if existing, err = nodes.Patch(ctx, n.o.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("fix labels of node %q: %w", n.o.NodeName, err)
		}
	}
	n.mu.Lock()
	n.uid = existing.UID
	n.mu.Unlock()
	n.o.Log.Info("node re-adopted", "node", existing.Name, "uid", existing.UID)
	return n.patchStatus(ctx, existing, in, true)
}

func (n *Node) adopted(node *v1.Node, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.uid, n.lastReport = node.UID, now
}

// updateStatus is kubelet's updateNodeStatus: up to five tries, the first
// reading the Node from the apiserver's cache.
func (n *Node) updateStatus(ctx context.Context) error {
	var err error
	for try := range 5 {
		opts := metav1.GetOptions{}
		if try == 0 {
			opts.ResourceVersion = "0"
		}
		var node *v1.Node
		if node, err = n.o.Client.CoreV1().Nodes().Get(ctx, n.o.NodeName, opts); err != nil {
			err = fmt.Errorf("get node %q: %w", n.o.NodeName, err)
			continue
		}
		var in inputs
		if in, err = n.inputs(ctx); err != nil {
			return err
		}
		if err = n.patchStatus(ctx, node, in, false); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// patchStatus runs the setters on node and patches its status when it
// changed, when force is set or when the report frequency has passed.
func (n *Node) patchStatus(ctx context.Context, node *v1.Node, in inputs, force bool) error {
	updated := node.DeepCopy()
	setNodeStatus(in, updated)
	n.mu.Lock()
	due := !in.now.Before(n.lastReport.Add(n.o.StatusReportFrequency))
	n.mu.Unlock()
	if !force && !due && !statusChanged(&node.Status, &updated.Status) {
		return nil
	}
	// Only the status is patched: the spec (taints) belongs to the cluster.
	updated.Spec = node.Spec
	patch, err := twoWayPatch(node, updated)
	if err != nil {
		return err
	}
	if _, err := n.o.Client.CoreV1().Nodes().Patch(ctx, n.o.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("patch status of node %q: %w", n.o.NodeName, err)
	}
	recordNodeEvents(n.o.Events, n.o.NodeName, &node.Status, &updated.Status)
	n.mu.Lock()
	n.lastReport = in.now
	n.mu.Unlock()
	return nil
}

func twoWayPatch(old, new *v1.Node) ([]byte, error) {
	o, err := json.Marshal(old)
	if err != nil {
		return nil, err
	}
	m, err := json.Marshal(new)
	if err != nil {
		return nil, err
	}
	p, err := strategicpatch.CreateTwoWayMergePatch(o, m, v1.Node{})
	if err != nil {
		return nil, fmt.Errorf("patch of node %q: %w", old.Name, err)
	}
	return p, nil
}

// inputs gathers what the setters read, now.
func (n *Node) inputs(ctx context.Context) (inputs, error) {
	local, err := n.o.Local.Node(ctx)
	if err != nil {
		return inputs{}, fmt.Errorf("local node: %w", err)
	}
	in := inputs{local: local, hostname: n.o.NodeName, port: n.o.Port, ids: n.ids, now: n.o.Clock.Now()}
	if n.o.NodeIP != nil {
		in.nodeIP = n.o.NodeIP.String()
	}
	return in, nil
}

// setLeaseOwner makes the Node own its Lease (so that deleting the Node
// deletes the Lease), as kubelet does.
func (n *Node) setLeaseOwner(ctx context.Context) lease.ProcessLeaseFunc {
	return func(l *coordinationv1.Lease) error {
		if len(l.OwnerReferences) > 0 {
			return nil
		}
		node, err := n.o.Client.CoreV1().Nodes().Get(ctx, n.o.NodeName, metav1.GetOptions{})
		if err != nil {
			// kubelet creates the lease without an owner then and retries later.
			n.o.Log.Warn("lease owner not set", "node", n.o.NodeName, "err", err)
			return nil
		}
		l.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
		}}
		return nil
	}
}

// readSystemIDs reads the machine ID, the system UUID and the boot ID as
// kubelet's cadvisor does; each is empty when unreadable.
func readSystemIDs() systemIDs {
	read := func(paths ...string) string {
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				return strings.TrimSpace(string(b))
			}
		}
		return ""
	}
	return systemIDs{
		machineID:  read("/etc/machine-id", "/var/lib/dbus/machine-id"),
		systemUUID: read("/sys/class/dmi/id/product_uuid"),
		bootID:     read("/proc/sys/kernel/random/boot_id"),
	}
}

// ParseNodeIP reads --node-ip: one address of this host. Loopback is
// accepted (kubelet refuses it) so that several agents can join from one
// host in tests.
func ParseNodeIP(s string) (net.IP, error) {
	if s == "" {
		return nil, nil
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return nil, fmt.Errorf("--node-ip %q: not an IP address", s)
	}
	if ip.IsLoopback() {
		return ip, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("--node-ip %s: %w", s, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(ip) {
			return ip, nil
		}
	}
	return nil, fmt.Errorf("--node-ip %s: no interface of this host has that address", s)
}
