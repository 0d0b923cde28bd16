#!/usr/bin/env bash
# bench-cluster.sh - cluster-mode benchmark (issue 10). Starts a real control
# plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler from
# bin/k8s, through the end-to-end rig cmd/miniagent/e2e/cluster), one
# miniagent daemon joined to it as Node ma-cbench, and one standalone daemon,
# then in one run:
#   1. N rounds each, interleaved: a busybox pod created in the apiserver with
#      spec.nodeName set -> phase Running and Ready on an apiserver watch,
#      against the same pod applied standalone -> Running and Ready on the
#      local API's watch; median, p95, min, max, ratio;
#   2. M idle busybox sleep pods in cluster mode: the agent's CPU % of one core
#      over a window (utime+stime, /proc/PID/stat), RSS (VmRSS, sampled every
#      second), the load average; then the same pods on the standalone daemon.
#
#   bench-cluster.sh          runs scripts/setup.sh, then the benchmark
#
# Environment:
#   BENCH_ROUNDS=30           latency rounds of each kind (plus one warm-up)
#   BENCH_IDLE_PODS=50        idle pods (0: skip the idle measurement)
#   BENCH_WINDOW=60s          CPU window (after all idle pods are ready + 10 s)
#   BENCH_IDLE_STANDALONE=true  also measure the standalone daemon idle
#   BENCH_PORT=21000          first port: control plane 21000-21004, kubelet server 21010
#   BENCH_LOG_LEVEL=info      the daemons' --v
#   BENCH_KEEP_LOGS=DIR       copy the daemons' logs to DIR at the end
#   BENCH_IMAGE_TAR=FILE      busybox OCI archive (default bin/busybox-image.tar, else built)
#   MINIAGENT_K8S_BIN=DIR     control-plane binaries (default bin/k8s; built there
#                             with scripts/build-control-plane.sh when missing)
#   BENCH_SKIP_SETUP=1        do not run scripts/setup.sh
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
#
# Everything it creates is its own and is removed at the end: the pods (by
# benchcluster, through the apiserver and the local API), the daemons (by
# PID), the control plane and its directory, the containerd namespaces
# ma-cbench and ma-cbench-sa with their containers, snapshots and image, the
# cgroup roots of the same names, the mounts under and the temporary directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

NS=ma-cbench
SA_NS=ma-cbench-sa
K8S_BIN=${MINIAGENT_K8S_BIN:-$MA_REPO/bin/k8s}

ma_require_root
ma_setup "${BENCH_SKIP_SETUP:-}"

ma_make_workdir ma-cbench
WORK=$MA_WORK
MA_BIN=$WORK/miniagent
ma_on_exit ma_clean_cgroups "$NS" "$SA_NS"
ma_on_exit ma_clean_namespace "$NS" "$SA_NS"

for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
	if [ ! -x "$K8S_BIN/$b" ]; then
		echo "==> $K8S_BIN/$b missing: scripts/build-control-plane.sh $K8S_BIN (minutes with a cold Go cache)"
		bash "$MA_REPO/scripts/build-control-plane.sh" "$K8S_BIN"
		break
	fi
done

echo "==> build miniagent, its daemon and helpers and scripts/benchcluster into $WORK"
(cd "$MA_REPO" && go build -o "$MA_BIN" ./cmd/miniagent && go build -o "$WORK/benchcluster" ./scripts/benchcluster)
ma_build_helpers "$WORK"

TAR=${BENCH_IMAGE_TAR:-$MA_REPO/bin/busybox-image.tar}
if [ ! -f "$TAR" ]; then
	TAR=$WORK/busybox.tar
	bash "$MA_REPO/scripts/build-busybox-image.sh" "$TAR"
fi
echo "==> busybox image into containerd namespaces $NS, $SA_NS"
ma_import_image "$TAR" "$NS" "$SA_NS"

keep_logs() {
	[ -n "$1" ] || return 0
	mkdir -p "$1"
	cp "$WORK/cluster/daemon.log" "$1/cluster-agent.log" 2>/dev/null || true
	cp "$WORK/standalone/daemon.log" "$1/standalone.log" 2>/dev/null || true
}
ma_on_exit keep_logs "${BENCH_KEEP_LOGS:-}"

echo "==> $(nproc) CPUs, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$WORK/benchcluster" --bin-dir "$WORK" --k8s-bin "$K8S_BIN" --work "$WORK" --containerd-address "$MA_ADDR" \
	--namespace "$NS" --standalone-namespace "$SA_NS" --base-port "${BENCH_PORT:-21000}" \
	--rounds "${BENCH_ROUNDS:-30}" --idle-pods "${BENCH_IDLE_PODS:-50}" --window "${BENCH_WINDOW:-60s}" \
	--idle-standalone="${BENCH_IDLE_STANDALONE:-true}" --v "${BENCH_LOG_LEVEL:-info}"
echo "==> load after the run $(cut -d' ' -f1-3 /proc/loadavg)"
