package cluster

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// localNode is node a as its agent shows it (miniagent get nodes).
func (r *podsRig) localNode() (*v1.Node, error) {
	out, err := exec.Command(r.a.bin, "get", "nodes", r.nodeA, "-o", "json", "--socket", filepath.Join(r.a.dir, "agent.sock")).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("miniagent get nodes: %v %s", err, out)
	}
	var n v1.Node
	if err := json.Unmarshal(out, &n); err != nil {
		return nil, fmt.Errorf("miniagent get nodes: %v %s", err, out)
	}
	return &n, nil
}

func hasTaint(n *v1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// checkNodeFromAPIServer checks that an admin's kubectl label node and
// kubectl taint node reach node a's agent: a pod bound to it by nodeName
// that needs the new label is admitted and runs, a NoExecute taint evicts
// it, and the agent's own label/taint verbs refuse, pointing to kubectl.
// It evicts every untolerating pod of node a: run it last.
func checkNodeFromAPIServer(t *testing.T, r *podsRig) {
	t.Helper()
	// status.images: the busybox the pods run, with a digest and its size.
	waitFor(t, 30*time.Second, "node a's status.images lists busybox", func() (bool, string) {
		for _, img := range r.k.node(r.nodeA).Status.Images {
			if len(img.Names) >= 2 && strings.Contains(img.Names[0], "busybox@sha256:") && img.SizeBytes > 0 {
				return true, ""
			}
		}
		return false, fmt.Sprint(r.k.node(r.nodeA).Status.Images)
	})
	r.k.run("label", "node", r.nodeA, "nadm-disk=ssd")
	waitFor(t, 30*time.Second, "agent a shows the apiserver's label", func() (bool, string) {
		n, err := r.localNode()
		if err != nil {
			return false, err.Error()
		}
		return n.Labels["nadm-disk"] == "ssd", fmt.Sprint(n.Labels)
	})
	// Bound by nodeName: no scheduler, the agent's admission decides.
	r.apply("labelled", bare("labelled", "  nodeName: "+r.nodeA+"\n  nodeSelector: {nadm-disk: ssd}\n"))
	r.k.run("wait", "--for=jsonpath={.status.phase}=Running", "pod/labelled", "--timeout=60s")

	out, err := exec.Command(r.a.bin, "label", "node", r.nodeA, "x=y", "--socket", filepath.Join(r.a.dir, "agent.sock")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "kubectl label node") {
		t.Errorf("miniagent label node in cluster mode: %v %s, want a refusal pointing to kubectl", err, out)
	}

	evicting := time.Now()
	r.k.run("taint", "node", r.nodeA, "nadm=x:NoExecute")
	waitFor(t, 30*time.Second, "agent a shows the apiserver's NoExecute taint", func() (bool, string) {
		n, err := r.localNode()
		if err != nil {
			return false, err.Error()
		}
		return hasTaint(n, "nadm"), fmt.Sprint(n.Spec.Taints)
	})
	// The agent's taint manager fails it (TaintManagerEviction); the
	// controller-manager's taint eviction controller may delete it first.
	waitFor(t, 60*time.Second, "labelled evicted by the NoExecute taint", func() (bool, string) {
		out, err := r.k.cp.Kubectl(r.k.ctx, "get", "pod", "labelled", "-o", "json")
		if err != nil {
			return strings.Contains(err.Error(), "NotFound"), err.Error()
		}
		var p v1.Pod
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			return false, err.Error()
		}
		return p.Status.Phase == v1.PodFailed || p.DeletionTimestamp != nil, fmt.Sprintf("%s %s deleting %v", p.Status.Phase, p.Status.Reason, p.DeletionTimestamp != nil)
	})
	t.Logf("pod on node a evicted %v after kubectl taint NoExecute", time.Since(evicting).Round(time.Millisecond))
	r.k.run("taint", "node", r.nodeA, "nadm-")
	r.k.run("label", "node", r.nodeA, "nadm-disk-")
	waitFor(t, 30*time.Second, "agent a drops the removed label and taint", func() (bool, string) {
		n, err := r.localNode()
		if err != nil {
			return false, err.Error()
		}
		return !hasTaint(n, "nadm") && n.Labels["nadm-disk"] == "", fmt.Sprint(n.Labels, n.Spec.Taints)
	})
}
