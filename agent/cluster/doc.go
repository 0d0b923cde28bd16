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
//     version, from agent.Agent.Node) plus the flags into the Node's
//     status; it is recomputed every --node-status-update-frequency and
//     patched (strategic merge, status subresource) when it changed or
//     --node-status-report-frequency has passed since the last patch.
//
//   - The node Lease in kube-node-lease, renewed by the lease controller
//     of k8s.io/component-helpers every quarter of
//     --node-lease-duration-seconds, owned by the Node.
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
// Pods are not yet taken from the apiserver, no pod status is written back
// and the kubelet server (--port) is not served: the port is only
// advertised in the Node's daemonEndpoints.
package cluster
