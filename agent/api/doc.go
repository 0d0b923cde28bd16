// Package api is miniagent's local HTTP/JSON API: a Server that exposes a
// Backend (the agent) on a unix socket under Kubernetes REST paths
// (/api/v1/namespaces/{ns}/pods, .../log, .../exec, .../attach,
// .../portforward, events, nodes, ?watch=true for pods and events, POST
// ...?force=true to re-create a pod whose change cannot be made in place)
// and kubelet's /stats/summary, and a
// Client that speaks the same protocol for the CLI. Bodies are k8s.io/api
// types; every error travels as a metav1.Status, so the client can rebuild
// the original apierrors value and print it like kubectl.
package api
