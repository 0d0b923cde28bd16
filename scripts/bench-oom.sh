#!/usr/bin/env bash
# bench-oom.sh - OOM and eviction latency benchmark (issue 4).
#
#   1. kernel OOM kill -> OOMKilled in the API: a daemon with default flags,
#      a pod with a 32Mi memory limit running `tail /dev/zero`; the kill is
#      timed by polling the container cgroup's oom_kill counter every 1 ms,
#      the API time by a watch on the pod. apply -> Running is shown too.
#   2. eviction threshold crossing -> Evicted in the API: a daemon whose pods
#      cgroup is limited to 400Mi (--kube-reserved memory=MemTotal-400Mi,
#      --enforce-node-allocatable pods) with --eviction-hard
#      allocatableMemory.available<150Mi, monitoring period 1s, then the
#      default 10s (BENCH_EVICT_PERIODS); a BestEffort pod allocates
#      300M after 1s; the crossing is when the pods cgroup's working set,
#      polled every 5 ms, first exceeds 400Mi - 150Mi.
#
# Environment:
#   BENCH_RUNS=20             runs of each measurement
#   BENCH_EVICT_PERIODS="1s 10s"  --eviction-monitoring-period values to measure
#   BENCH_ONLY=               oom or evict: run only that part
#   BENCH_LOG_LEVEL=info      daemon --v
#   BENCH_KEEP_LOGS=DIR       copy the daemons' logs to DIR at the end
#   BENCH_SKIP_SETUP=1        do not run scripts/setup.sh (bin/miniagent must exist)
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
#
# Everything it creates is its own and is removed at the end, also on error
# or Ctrl-C: the daemons it started (by PID), their pods, the containerd
# namespace miniagent-bench-oom with its containers, snapshots and image, the
# cgroup miniagent-bench-oom in every hierarchy, and the temporary directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUNS=${BENCH_RUNS:-20}
MA_NS=miniagent-bench-oom
MA_CGROUP_ROOT=miniagent-bench-oom

ma_require_root
[ -f /sys/fs/cgroup/memory/memory.oom_control ] || ma_die "needs the cgroup v1 memory hierarchy at /sys/fs/cgroup/memory"
ma_setup "${BENCH_SKIP_SETUP:-}" --need-bin

ma_make_workdir miniagent-bench-oom
WORK=$MA_WORK
keep_logs() {
	[ -n "${BENCH_KEEP_LOGS:-}" ] || return 0
	mkdir -p "$BENCH_KEEP_LOGS" && cp "$WORK"/*.log "$BENCH_KEEP_LOGS"/ 2>/dev/null
}
ma_on_exit ma_clean_cgroups "$MA_CGROUP_ROOT"
ma_on_exit ma_clean_namespace "$MA_NS"
ma_on_exit keep_logs
ma_on_exit ma_tail_log_on_failure

# start_daemon NAME [FLAGS...]: a daemon with its own socket, root and logs,
# on a fresh cgroup root.
start_daemon() {
	local name=$1
	shift
	ma_clean_cgroups "$MA_CGROUP_ROOT"
	echo "==> daemon $name: $*"
	ma_start_daemon "$WORK/$name.sock" "$WORK/$name.log" "$WORK/$name" --v "${BENCH_LOG_LEVEL:-info}" "$@"
}

# stop_daemon: delete the daemon's pods, stop it, remove its cgroups.
stop_daemon() {
	ma_stop_daemon
	ma_clean_cgroups "$MA_CGROUP_ROOT"
}

echo "==> build scripts/benchoom"
(cd "$MA_REPO" && go build -o "$WORK/benchoom" ./scripts/benchoom)

echo "==> busybox image into containerd namespace $MA_NS"
ma_import_image "$MA_REPO/bin/busybox-image.tar" "$MA_NS"

bench() { "$WORK/benchoom" --socket "$MA_SOCK" --cgroup-root "$MA_CGROUP_ROOT" --runs "$RUNS" "$@"; }

if [ "${BENCH_ONLY:-oom}" = oom ]; then
	start_daemon oom
	bench --mode oom --memory-limit 32Mi --kill-poll 1ms
	stop_daemon
fi

if [ "${BENCH_ONLY:-evict}" = evict ]; then
	mem_total_kb=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)
	reserved=$((mem_total_kb * 1024 - 400 * 1024 * 1024))
	evict_flags=(--kube-reserved "memory=$reserved" --enforce-node-allocatable pods
		--eviction-hard 'allocatableMemory.available<150Mi' --eviction-pressure-transition-period 1s)

	for period in ${BENCH_EVICT_PERIODS:-1s 10s}; do
		label="monitoring period $period"
		[ "$period" = 10s ] && label="default $label"
		start_daemon "evict-$period" "${evict_flags[@]}" --eviction-monitoring-period "$period"
		bench --mode evict --threshold 150Mi --grow 300M --ws-poll 5ms --jitter "$period" --label "$label"
		stop_daemon
	done
fi
echo "==> done"
