package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

type fakeSink struct {
	mu    sync.Mutex
	nodes []*v1.Node
}

func (f *fakeSink) SetAPIServerNode(n *v1.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes = append(f.nodes, n.DeepCopy())
}

func (f *fakeSink) last() (*v1.Node, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, n := range f.nodes {
		names = append(names, n.Name)
	}
	if len(f.nodes) == 0 {
		return nil, names
	}
	return f.nodes[len(f.nodes)-1], names
}

// The Node keeper hands the agent its Node as registered, then as an
// admin changes it (kubectl label / taint node); other Nodes never.
func TestNodeChangesAreHandedToTheAgent(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	other := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b", Labels: map[string]string{"zone": "b"}}}
	client := fake.NewClientset(other)
	clk := clocktesting.NewFakeClock(t0)
	n := newTestNode(t, client, clk, &fakeLocal{node: localNode(v1.ConditionTrue, "")})
	sink := &fakeSink{}
	n.o.Sink = sink
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()

	wait := func(what string, ok func(*v1.Node) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			last, names := sink.last()
			for _, name := range names {
				if name != "node-a" {
					t.Fatalf("handed node %q, not this agent's", name)
				}
			}
			if last != nil && ok(last) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last handed node %+v", what, last)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait("registered node", func(node *v1.Node) bool {
		return node.Labels["zone"] == "a" && len(node.Spec.Taints) == 1 && node.Spec.Taints[0].Key == "dedicated"
	})

	node, err := client.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Labels["disk"] = "ssd"
	node.Spec.Taints = []v1.Taint{{Key: "maint", Value: "x", Effect: v1.TaintEffectNoExecute}}
	if _, err := client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("admin's labels and taints", func(node *v1.Node) bool {
		return node.Labels["disk"] == "ssd" && node.Labels["zone"] == "a" &&
			len(node.Spec.Taints) == 1 && node.Spec.Taints[0].Key == "maint"
	})
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
