package cluster

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

type fakeLocal struct {
	mu   sync.Mutex
	node *v1.Node
}

func (f *fakeLocal) Node(context.Context) (*v1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.node.DeepCopy(), nil
}

func (f *fakeLocal) set(n *v1.Node) {
	f.mu.Lock()
	f.node = n
	f.mu.Unlock()
}

func newTestNode(t *testing.T, client *fake.Clientset, clk *clocktesting.FakeClock, local LocalNode) *Node {
	t.Helper()
	n, err := New(Options{Client: client, Local: local, NodeName: "node-a", RegisterNode: true,
		Labels: map[string]string{"zone": "a"}, Taints: []v1.Taint{{Key: "dedicated", Value: "batch", Effect: v1.TaintEffectNoSchedule}},
		Clock: clk, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n.ids = systemIDs{machineID: "m", systemUUID: "u", bootID: "b"}
	return n
}

// patches counts the status patches the client was sent.
func patches(client *fake.Clientset, subresource string) int {
	count := 0
	for _, a := range client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok && p.GetResource().Resource == "nodes" && p.GetSubresource() == subresource {
			count++
		}
	}
	return count
}

func TestRegisterCreatesNode(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	clk := clocktesting.NewFakeClock(t0)
	n := newTestNode(t, client, clk, &fakeLocal{node: localNode(v1.ConditionTrue, "containerd://1.6.20")})
	if err := n.tryRegister(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"zone": "a", v1.LabelHostname: "node-a", v1.LabelOSStable: "linux"} {
		if got.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, got.Labels[k], v)
		}
	}
	if len(got.Spec.Taints) != 1 || got.Spec.Taints[0].Key != "dedicated" || got.Spec.Taints[0].Effect != v1.TaintEffectNoSchedule {
		t.Errorf("taints = %v", got.Spec.Taints)
	}
	if got.Annotations[controllerManagedAttachDetach] != "true" {
		t.Errorf("annotations = %v", got.Annotations)
	}
	s := got.Status
	if len(s.Conditions) != 4 || s.Conditions[3].Type != v1.NodeReady || s.Conditions[3].Status != v1.ConditionTrue ||
		s.NodeInfo.ContainerRuntimeVersion != "containerd://1.6.20" || s.DaemonEndpoints.KubeletEndpoint.Port != DefaultPort ||
		s.Allocatable.Cpu().MilliValue() != 1900 || s.Capacity.Pods().Value() != 110 {
		t.Errorf("status = %+v", s)
	}
	if n.UID() != got.UID {
		t.Errorf("UID() = %q, want %q", n.UID(), got.UID)
	}
}

func TestRegisterReadoptsExistingNode(t *testing.T) {
	ctx := context.Background()
	existing := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-a", UID: types.UID("uid-1"),
			Labels: map[string]string{v1.LabelHostname: "old-host", "team": "x"}},
		Spec: v1.NodeSpec{Taints: []v1.Taint{{Key: "by-admin", Effect: v1.TaintEffectNoExecute}}},
	}
	client := fake.NewClientset(existing)
	clk := clocktesting.NewFakeClock(t0)
	n := newTestNode(t, client, clk, &fakeLocal{node: localNode(v1.ConditionTrue, "containerd://1.6.20")})
	if err := n.tryRegister(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.UID != "uid-1" || n.UID() != "uid-1" {
		t.Errorf("UID = %q (agent: %q), want the existing uid-1", got.UID, n.UID())
	}
	if got.Labels[v1.LabelHostname] != "node-a" || got.Labels["team"] != "x" || got.Labels[v1.LabelArchStable] == "" {
		t.Errorf("labels = %v: default labels fixed, others kept", got.Labels)
	}
	if _, ok := got.Labels["zone"]; ok {
		t.Errorf("--node-labels were applied to an existing node: %v", got.Labels)
	}
	if len(got.Spec.Taints) != 1 || got.Spec.Taints[0].Key != "by-admin" {
		t.Errorf("taints = %v, want the existing ones untouched", got.Spec.Taints)
	}
	if len(got.Status.Conditions) != 4 || got.Status.NodeInfo.KubeletVersion == "" {
		t.Errorf("status not patched: %+v", got.Status)
	}
	if patches(client, "") != 1 || patches(client, "status") != 1 {
		t.Errorf("patches: %d of the node, %d of its status; want 1 and 1", patches(client, ""), patches(client, "status"))
	}
}

func TestRegisterNodeFalseWaitsForTheNode(t *testing.T) {
	client := fake.NewClientset()
	n := newTestNode(t, client, clocktesting.NewFakeClock(t0), &fakeLocal{node: localNode(v1.ConditionTrue, "")})
	n.o.RegisterNode = false
	if err := n.tryRegister(context.Background()); err == nil {
		t.Fatal("--register-node=false created or found a node that does not exist")
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" {
			t.Errorf("--register-node=false sent %v", a)
		}
	}
}

func TestStatusPatchedOnChangeOrReportFrequency(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	clk := clocktesting.NewFakeClock(t0)
	local := &fakeLocal{node: localNode(v1.ConditionTrue, "containerd://1.6.20")}
	n := newTestNode(t, client, clk, local)
	if err := n.tryRegister(ctx); err != nil {
		t.Fatal(err)
	}
	step := func(d time.Duration, wantPatches int, what string) {
		t.Helper()
		clk.Step(d)
		if err := n.updateStatus(ctx); err != nil {
			t.Fatal(err)
		}
		if got := patches(client, "status"); got != wantPatches {
			t.Fatalf("%s: %d status patches, want %d", what, got, wantPatches)
		}
	}
	step(10*time.Second, 0, "nothing changed")
	step(4*time.Minute, 0, "nothing changed, 4m10s after the last report")
	local.set(localNode(v1.ConditionFalse, "containerd://1.6.20"))
	step(10*time.Second, 1, "Ready became False")
	got, _ := client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	r := got.Status.Conditions[3]
	if r.Status != v1.ConditionFalse || r.Reason != "KubeletNotReady" || !r.LastTransitionTime.Time.Equal(clk.Now()) {
		t.Errorf("Ready after the change = %+v", r)
	}
	step(10*time.Second, 1, "nothing changed since")
	step(5*time.Minute, 2, "report frequency passed")
	got, _ = client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if hb := got.Status.Conditions[3].LastHeartbeatTime.Time; !hb.Equal(clk.Now()) {
		t.Errorf("heartbeat = %v, want %v", hb, clk.Now())
	}
	if got.Spec.Taints[0].Key != "dedicated" {
		t.Errorf("a status patch changed the spec: %v", got.Spec)
	}
}

func TestRunRenewsLeaseOwnedByNode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset()
	clk := clocktesting.NewFakeClock(t0)
	n := newTestNode(t, client, clk, &fakeLocal{node: localNode(v1.ConditionTrue, "")})
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := client.CoordinationV1().Leases(v1.NamespaceNodeLease).Get(ctx, "node-a", metav1.GetOptions{})
		if err == nil {
			if *l.Spec.HolderIdentity != "node-a" || *l.Spec.LeaseDurationSeconds != DefaultLeaseDurationSeconds ||
				len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].UID != n.UID() {
				t.Errorf("lease = %+v", l)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lease: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestOptionErrorsNameTheFlag(t *testing.T) {
	base := Options{Client: fake.NewClientset(), Local: &fakeLocal{}, NodeName: "n"}
	tests := []struct {
		mut  func(*Options)
		want string
	}{
		{func(o *Options) { o.StatusUpdateFrequency = -1 }, "--node-status-update-frequency"},
		{func(o *Options) { o.StatusReportFrequency = -1 }, "--node-status-report-frequency"},
		{func(o *Options) { o.LeaseDurationSeconds = -1 }, "--node-lease-duration-seconds"},
		{func(o *Options) { o.Port = 70000 }, "--port"},
		{func(o *Options) { o.NodeName = "" }, "--node-name"},
		{func(o *Options) { o.Labels = map[string]string{"node-role.kubernetes.io/x": ""} }, "--node-labels"},
	}
	for _, tt := range tests {
		o := base
		tt.mut(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want one naming %s", err, tt.want)
		}
	}
}
