#!/usr/bin/env bash
# build-control-plane.sh [OUTDIR]
#
# Builds the Kubernetes control plane the cluster-mode end-to-end tests run
# against: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
# and etcd from the module in tools/k8s, and metrics-server (for kubectl
# top) from the module in tools/metrics-server (sources from the Go module
# proxy, no downloaded binaries), into OUTDIR (default bin/k8s).
#
# It always runs go build: the Go build cache decides what is stale, and a
# binary whose build ID already matches is not even relinked, so a warm run
# takes seconds and a changed tools/k8s/go.mod is never missed. A cold run
# (empty build cache) compiles a few thousand packages: minutes, and about
# 2-3 GB of build cache.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bin/k8s}
mkdir -p "$out"
out=$(cd "$out" && pwd)

cd "$root/tools/k8s"
export GOWORK=off
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=${version#v1.}
minor=${minor%%.*}
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$version -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"

# -dwarf=false: the compiler makes no debug info, which -s -w would strip
# from the binaries anyway (a cold build ~15% less CPU); -l: no inlining,
# another ~24% less (measured on k8s.io/api/core/v1 and its dependencies).
# Binaries without inlining run somewhat slower; the tests load them
# lightly, and a cold build of these six is most of a cold CI run.
gcflags="all=-dwarf=false -l"
start=$(date +%s)
nice -n 10 go build -gcflags "$gcflags" -ldflags "$ldflags" -o "$out/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kubectl
# etcd's main package is the module go.etcd.io/etcd/server/v3 itself.
nice -n 10 go build -gcflags "$gcflags" -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
echo "build-control-plane: $version and etcd $(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3) in $out ($(($(date +%s) - start))s)"

# metrics-server: its own build only for its version stamp (client-go's
# version package, which the Kubernetes binaries must keep); the packages
# it shares with them come from the build cache.
msversion=$(go list -m -f '{{.Version}}' sigs.k8s.io/metrics-server)
start=$(date +%s)
nice -n 10 go build -gcflags "$gcflags" -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$msversion -X k8s.io/client-go/pkg/version.gitTreeState=clean" -o "$out/" \
	sigs.k8s.io/metrics-server/cmd/metrics-server
echo "build-control-plane: metrics-server $msversion in $out ($(($(date +%s) - start))s)"
