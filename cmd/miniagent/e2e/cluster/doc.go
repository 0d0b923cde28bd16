// Package cluster starts a real Kubernetes control plane for miniagent's
// cluster-mode end-to-end tests, and the tests themselves
// (MINIAGENT_E2E=1).
//
// The control plane (controlplane.go) is etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, built from the Go module
// proxy by scripts/build-control-plane.sh into bin/k8s (kubectl too).
// Start generates a CA, serving certificates and client certificates
// (pki.go): admin in system:masters, the controller manager and the
// scheduler under their RBAC identities, and one system:node:<name> in
// system:nodes per node, so that the apiserver runs with
// --authorization-mode=Node,RBAC and the NodeRestriction admission plugin
// as a real cluster does. Everything listens on 127.0.0.1 only, on ports
// from Config.BasePort, and lives in a temporary directory that Stop
// removes with the processes.
//
// The apiserver's kubelet client certificate (CN
// kube-apiserver-kubelet-client) is bound to system:kubelet-api-admin and
// the apiserver reaches kubelets at their InternalIP; their serving
// certificates are not verified (no --kubelet-certificate-authority, as
// kubeadm).
//
// The apiserver has the aggregation layer (a front-proxy CA of its own,
// the proxy client certificate front-proxy-client,
// --enable-aggregator-routing since there is no kube-proxy).
// StartMetricsServer (metricsserver.go) runs metrics-server, built from
// source into the same directory, as a host process on the host's
// non-loopback address, with its ServiceAccount's RBAC and the APIService
// v1beta1.metrics.k8s.io pointing at it through a Service without selector
// and an EndpointSlice; kubectl top then works.
//
// The tests (cluster_test.go, kubeletserver_test.go) start miniagent
// daemons in cluster mode, each with its own root directory, containerd
// namespace, cgroup root and node name, and check through the built
// kubectl what a cluster user sees.
// Environment: MINIAGENT_E2E_CLUSTER_PREFIX (default miniagent-cluster;
// the nodes, namespaces and cgroup roots are PREFIX-a and PREFIX-b),
// MINIAGENT_E2E_CLUSTER_PORT (default 19400: the first of 20 ports),
// MINIAGENT_K8S_BIN (default bin/k8s in the repository; with
// MINIAGENT_E2E_CLUSTER=1, as in scripts/test.sh, missing ones fail the
// test). Without the
// control-plane binaries there the tests are skipped, saying how to build
// them.
//
//	sudo scripts/build-control-plane.sh
//	sudo MINIAGENT_E2E=1 go test -count=1 -v ./cmd/miniagent/e2e/cluster/
package cluster
