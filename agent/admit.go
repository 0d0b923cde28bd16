package agent

import (
	"fmt"
)

// admitLocked decides whether this node may run a new pod, as kubelet's
// admission handlers do. A rejected pod is kept and shown with phase
// Failed, never run.
func (a *Agent) admitLocked(rec *podRecord) {
	pod := rec.Pod
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != a.node.cfg.Name {
		rec.Rejected = true
		rec.Reason = "NodeName"
		rec.Message = fmt.Sprintf("Pod was rejected: Predicate NodeName failed: node(s) didn't match the requested node name %q", pod.Spec.NodeName)
		a.events.warn(pod, rec.Reason, rec.Message)
	}
}

// nodeChanged reacts to new labels or taints: labels never evict running
// pods (IgnoredDuringExecution); NoExecute taints are handled by the taint
// manager.
func (a *Agent) nodeChanged() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		w.poke()
	}
}
