//go:build tools

// Package tools pins the control-plane commands that
// scripts/build-control-plane.sh builds, so that go mod tidy keeps them.
// metrics-server (for kubectl top) is v0.9.0: released on the v0.36
// libraries, it runs on this module's v0.37 ones; v0.8.0 (v0.33) did not
// (its OpenAPI definitions are named by Go path, v0.37 looks models up by
// OpenAPIModelName, and it panicked at start).
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "sigs.k8s.io/metrics-server/cmd/metrics-server"
)
