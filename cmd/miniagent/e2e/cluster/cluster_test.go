package cluster

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
)

// Short periods keep the test fast: leases renewed every 2 s, a node
// without renewal for 16 s is marked Unknown.
const (
	leaseSeconds = "8"
	graceFor     = 16 * time.Second
)

// TestClusterNodes joins two agents to a real control plane and checks,
// through kubectl, their Nodes, their Leases, the Node authorizer, a
// stopped agent's Node going Unknown and a restarted agent re-adopting
// the same Node object.
func TestClusterNodes(t *testing.T) {
	e := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	nodeA, nodeB := e.prefix+"-a", e.prefix+"-b"
	start := time.Now()
	cp, err := Start(ctx, Config{BinDir: e.binDir, BasePort: e.basePort, Nodes: []string{nodeA, nodeB},
		NodeMonitorGracePeriod: graceFor, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-controller-manager log:\n%s", cp.Logs("kube-controller-manager", 30))
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	t.Logf("control plane up in %v", time.Since(start).Round(time.Millisecond))

	bin := buildAgent(t, e.repo, t.TempDir())
	common := []string{"--node-lease-duration-seconds", leaseSeconds, "--node-status-update-frequency", "2s"}
	a := newAgent(t, bin, nodeA, cp.NodeKubeconfigs[nodeA], e.basePort+10,
		append(common, "--node-labels", "zone=a,node.kubernetes.io/pool=e2e")...)
	b := newAgent(t, bin, nodeB, cp.NodeKubeconfigs[nodeB], e.basePort+11,
		append(common, "--node-labels", "zone=b", "--register-with-taints", "dedicated=b:NoSchedule")...)
	k := kubectl{t: t, ctx: ctx, cp: cp}

	k.waitRegistered(nodeA, nodeB)
	k.run("wait", "--for=condition=Ready", "node/"+nodeA, "node/"+nodeB, "--timeout=90s")
	na, nb := k.node(nodeA), k.node(nodeB)
	t.Logf("both nodes Ready %v after the control plane", time.Since(start).Round(time.Millisecond))
	checkNode(t, na, map[string]string{"zone": "a", "node.kubernetes.io/pool": "e2e"}, "", e.basePort+10)
	checkNode(t, nb, map[string]string{"zone": "b"}, "dedicated", e.basePort+11)
	if strings.Contains(k.run("get", "nodes", "-o", "wide"), "NotReady") {
		t.Errorf("a node is NotReady")
	}

	// Leases: held by the node, owned by its Node, renewed.
	la, lb := k.lease(nodeA), k.lease(nodeB)
	if la.Spec.HolderIdentity == nil || *la.Spec.HolderIdentity != nodeA || len(la.OwnerReferences) != 1 || la.OwnerReferences[0].UID != na.UID {
		t.Errorf("lease of %s = %+v, want held by it and owned by Node %s", nodeA, la, na.UID)
	}
	waitFor(t, 20*time.Second, "both leases renewed", func() (bool, string) {
		ra, rb := k.lease(nodeA).Spec.RenewTime, k.lease(nodeB).Spec.RenewTime
		okA := ra != nil && ra.After(la.Spec.RenewTime.Time)
		okB := rb != nil && rb.After(lb.Spec.RenewTime.Time)
		return okA && okB, "renewTime " + ra.String() + " / " + rb.String()
	})

	// Node,RBAC and NodeRestriction hold: a node cannot change another Node.
	out, err := k.cp.KubectlAs(ctx, cp.NodeKubeconfigs[nodeA], "label", "node", nodeB, "hijacked=yes")
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "forbidden") {
		t.Errorf("node %s labelled node %s: %v %s", nodeA, nodeB, err, out)
	}

	// A stopped agent's Node goes Unknown once its lease is not renewed.
	b.stop()
	stopped := time.Now()
	waitFor(t, graceFor+40*time.Second, nodeB+" Ready Unknown", func() (bool, string) {
		c := ready(k.node(nodeB))
		return c.Status == v1.ConditionUnknown, string(c.Status) + " " + c.Reason
	})
	t.Logf("%s Unknown %v after its agent stopped", nodeB, time.Since(stopped).Round(time.Millisecond))
	if c := ready(k.node(nodeA)); c.Status != v1.ConditionTrue {
		t.Errorf("%s Ready = %s while only %s stopped", nodeA, c.Status, nodeB)
	}

	// Restarted, it re-adopts the same Node and is Ready again.
	b.start()
	k.run("wait", "--for=condition=Ready", "node/"+nodeB, "--timeout=60s")
	again := k.node(nodeB)
	if again.UID != nb.UID {
		t.Errorf("restarted agent: Node %s UID %s, want the same object %s", nodeB, again.UID, nb.UID)
	}
	checkNode(t, again, map[string]string{"zone": "b"}, "dedicated", e.basePort+11)
	if !a.alive() || !b.alive() {
		t.Errorf("an agent exited: %s alive %v, %s alive %v", nodeA, a.alive(), nodeB, b.alive())
	}
}

// checkNode checks what registration promised: labels, taint, status.
func checkNode(t *testing.T, n *v1.Node, labels map[string]string, taint string, port int) {
	t.Helper()
	want := map[string]string{v1.LabelHostname: n.Name, v1.LabelOSStable: "linux", v1.LabelArchStable: n.Status.NodeInfo.Architecture}
	for k, v := range labels {
		want[k] = v
	}
	for k, v := range want {
		if got, ok := n.Labels[k]; !ok || got != v {
			t.Errorf("node %s label %s = %q, want %q", n.Name, k, got, v)
		}
	}
	if taint != "" {
		found := false
		for _, tt := range n.Spec.Taints {
			found = found || tt.Key == taint && tt.Effect == v1.TaintEffectNoSchedule
		}
		if !found {
			t.Errorf("node %s taints = %v, want %s:NoSchedule", n.Name, n.Spec.Taints, taint)
		}
	}
	s := n.Status
	var types []string
	for _, c := range s.Conditions {
		types = append(types, string(c.Type))
	}
	if got := strings.Join(types, ","); got != "MemoryPressure,DiskPressure,PIDPressure,Ready" {
		t.Errorf("node %s conditions %s, want MemoryPressure,DiskPressure,PIDPressure,Ready", n.Name, got)
	}
	if r := ready(n); r.Reason != "KubeletReady" || r.Message != "kubelet is posting ready status" {
		t.Errorf("node %s Ready = %+v", n.Name, r)
	}
	ni := s.NodeInfo
	if !strings.HasPrefix(ni.ContainerRuntimeVersion, "containerd://") || ni.KubeletVersion == "" || ni.KernelVersion == "" || ni.OSImage == "" || ni.BootID == "" {
		t.Errorf("node %s nodeInfo = %+v", n.Name, ni)
	}
	if len(s.Addresses) != 2 || s.Addresses[0] != (v1.NodeAddress{Type: v1.NodeInternalIP, Address: "127.0.0.1"}) || s.Addresses[1] != (v1.NodeAddress{Type: v1.NodeHostName, Address: n.Name}) {
		t.Errorf("node %s addresses = %v", n.Name, s.Addresses)
	}
	if int(s.DaemonEndpoints.KubeletEndpoint.Port) != port {
		t.Errorf("node %s kubelet port = %d, want %d", n.Name, s.DaemonEndpoints.KubeletEndpoint.Port, port)
	}
	if s.Capacity.Cpu().IsZero() || s.Allocatable.Memory().IsZero() || s.Allocatable.Pods().Value() != 110 {
		t.Errorf("node %s capacity %v allocatable %v", n.Name, s.Capacity, s.Allocatable)
	}
}

func ready(n *v1.Node) v1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c
		}
	}
	return v1.NodeCondition{}
}

// kubectl runs the built kubectl as admin; failures fail the test.
type kubectl struct {
	t   *testing.T
	ctx context.Context
	cp  *ControlPlane
}

func (k kubectl) run(args ...string) string {
	k.t.Helper()
	out, err := k.cp.Kubectl(k.ctx, args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

func (k kubectl) node(name string) *v1.Node {
	k.t.Helper()
	var n v1.Node
	if err := json.Unmarshal([]byte(k.run("get", "node", name, "-o", "json")), &n); err != nil {
		k.t.Fatal(err)
	}
	return &n
}

func (k kubectl) lease(name string) *coordinationv1.Lease {
	k.t.Helper()
	var l coordinationv1.Lease
	if err := json.Unmarshal([]byte(k.run("-n", "kube-node-lease", "get", "lease", name, "-o", "json")), &l); err != nil {
		k.t.Fatal(err)
	}
	return &l
}

// waitFor polls cond every 500 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (last: %s)", what, timeout, state)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
