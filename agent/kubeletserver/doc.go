// Package kubeletserver is the kubelet server of cluster mode: the HTTPS
// API a kube-apiserver (and metrics-server, Prometheus, kubectl through the
// apiserver's proxy) calls on a node's --port, 10250 by default.
//
// It serves kubelet's paths with kubelet's semantics:
//
//	/healthz                                   "ok"
//	/pods                                      PodList of the node's pods as the agent shows them
//	/containerLogs/{ns}/{pod}/{container}      follow, previous, tailLines (tail), sinceSeconds, sinceTime, timestamps, limitBytes
//	/exec/{ns}/{pod}[/{uid}]/{container}       SPDY and WebSocket (k8s.io/cri-streaming, through api.StreamHandlers)
//	/attach/{ns}/{pod}[/{uid}]/{container}
//	/portForward/{ns}/{pod}[/{uid}]
//	/stats/summary                             stats/v1alpha1 Summary from the agent's cgroup readings
//	/metrics                                   the agent's registry (kubelet_* metric names)
//	/metrics/resource                          node_/pod_/container_ cpu and memory, the names metrics-server scrapes
//
// Pods are looked up by namespace and name as the apiserver names them
// (a static pod's name carries the node's name).
//
// Every request is authenticated and authorised as kubelet does with
// webhook authentication and authorisation (auth.go, authz.go): a client
// certificate verified against --client-ca-file names the user (CN) and
// its groups (O); otherwise a bearer token is sent to the apiserver as a
// TokenReview; a request with neither is 401. The user is then checked
// with a SubjectAccessReview for the node object: verb from the HTTP
// method, resource nodes, subresource by path (stats, metrics, log,
// healthz or pods with proxy as the fallback, proxy for everything else),
// name = the node's name. Answers are cached (TokenReview 2 min,
// allowed 5 min, denied 30 s: kubelet's defaults); errors are not.
//
// TLS: --tls-cert-file and --tls-private-key-file, else a self-signed
// serving certificate written to <root-dir>/pki/kubelet.crt and .key as
// kubelet writes it (IP SAN the node IP, DNS SANs the node name and the
// host name), re-made when it no longer covers them or expires.
package kubeletserver
