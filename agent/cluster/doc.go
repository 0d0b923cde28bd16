// Package cluster joins the agent to a real Kubernetes control plane as a
// Node, the way kubelet does, when the daemon is given --kubeconfig.
//
// What it does today:
//
//   - Registration (register.go): the Node is created with kubelet's
//     default labels, the --node-labels, the --register-with-taints and a
//     full status; if it already exists (an agent restart, a re-joined
//     node) the same object is re-adopted and only its default labels are
//     fixed, as kubelet does: taints and user labels on an existing Node
//     belong to the cluster's users.
//
//   - Node status (setters.go, status.go): pure setters turn the agent's
//     own view of the node (capacity, allocatable, conditions, runtime
//     version, images, from agent.Agent.Node) plus the flags into the Node's
//     status; it is recomputed every --node-status-update-frequency and
//     patched (strategic merge, status subresource) when it changed or
//     --node-status-report-frequency has passed since the last patch.
//
//   - The Node's labels and taints (nodewatch.go): the Node keeper
//     watches its own Node and hands every version to Options.Sink
//     (agent.Agent.SetAPIServerNode), so that admission and the taint
//     manager use what the cluster's users set with kubectl.
//
//   - The node Lease in kube-node-lease, renewed by the lease controller
//     of k8s.io/component-helpers every quarter of
//     --node-lease-duration-seconds, owned by the Node.
//
//   - Pods (pods.go): the pods bound to this node come from the apiserver
//     (sources.APIServerSource, one more pod source of the agent) and every
//     status their pod workers publish goes to the status manager
//     (agent/statusmanager), which patches pods/status and completes
//     graceful deletions. A static pod's status goes to its mirror pod once
//     a mirror lookup is installed (Pods.SetMirrorUID).
//
//   - Volumes whose content comes from the API server (configMap, secret,
//     downwardAPI, projected with service account tokens) are made by
//     agent/apivolume, which cmd/miniagent gives the agent as its
//     Options.APIVolumes in cluster mode.
//
//   - Events (events.go, events_node.go): the agent's events are posted
//     through client-go's record package (broadcaster, correlator, spam
//     filter, retries) about the apiserver's objects, a static pod's about
//     its mirror pod; the Node gets Starting and kubelet's condition events
//     (NodeReady, NodeHasSufficientMemory, ...).
//
//   - Mirror pods (mirror.go, mirror_plan.go): every static pod has a
//     mirror pod in the apiserver with kubelet's annotations, bound to and
//     owned by the Node, created again when deleted or outdated and
//     removed with its static pod; Mirrors.MirrorOf tells the status path
//     which mirror pod stands for a static pod.
//
// The kubelet server (--port) is agent/kubeletserver's; this package only
// advertises the port in the Node's daemonEndpoints.
package cluster
