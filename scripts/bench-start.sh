#!/usr/bin/env bash
# bench-start.sh - start-up benchmark: time from `apply` to Running for a
# one-container busybox pod through a miniagent daemon, side by side with the
# floor (the same container created and started straight through containerd's
# Go client, once with null IO and once logging through miniagent's
# crilog-shim as the agent does), and each runtime step the agent performs.
#
#   bench-start.sh            runs scripts/setup.sh, then the benchmark
#
# Environment:
#   BENCH_RUNS=30             runs of each kind (one extra warm-up run is not counted)
#   BENCH_POLL=               e.g. 5ms: poll GET instead of using the watch API
#   BENCH_STEPS=1             also time the runtime steps (0: skip)
#   BENCH_LOG_LEVEL=info      daemon --v (debug for timestamps in the log)
#   BENCH_KEEP_LOG=FILE       copy the daemon's log to FILE at the end
#   BENCH_SKIP_SETUP=1        do not run scripts/setup.sh (bin/miniagent must exist)
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
#
# Everything it creates is its own and is removed at the end: the daemon
# (own --root-dir, --socket, --pod-logs-dir, --cgroup-root), the containerd
# namespaces miniagent-bench, miniagent-bench-floor and miniagent-bench-steps
# with their containers, snapshots and images, the cgroup directories, and the
# temporary directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUNS=${BENCH_RUNS:-30}
MA_NS=miniagent-bench
MA_CGROUP_ROOT=miniagent-bench
FLOOR_NS=miniagent-bench-floor
STEPS_NS=miniagent-bench-steps
STEPS_CGROUP=miniagent-bench-steps # the top cgroup benchstart's step runs use

ma_require_root
ma_setup "${BENCH_SKIP_SETUP:-}" --need-bin

ma_make_workdir miniagent-bench
WORK=$MA_WORK
# containerd's default cgroupsPath is /<namespace>/<id>: hence $FLOOR_NS.
ma_on_exit ma_clean_cgroups "$MA_CGROUP_ROOT" "$STEPS_CGROUP" "$FLOOR_NS"
ma_on_exit ma_clean_namespace "$MA_NS" "$FLOOR_NS" "$STEPS_NS"
ma_on_exit ma_keep_log "${BENCH_KEEP_LOG:-}"
ma_on_exit ma_tail_log_on_failure

echo "==> build scripts/benchstart"
(cd "$MA_REPO" && go build -o "$WORK/benchstart" ./scripts/benchstart)

echo "==> busybox image into $MA_NS, $FLOOR_NS, $STEPS_NS"
ma_import_image "$MA_REPO/bin/busybox-image.tar" "$MA_NS" "$FLOOR_NS" "$STEPS_NS"

echo "==> daemon (namespace $MA_NS, cgroup root $MA_CGROUP_ROOT, files under $WORK)"
ma_start_daemon "$WORK/agent.sock" "$WORK/agent.log" "$WORK" --v "${BENCH_LOG_LEVEL:-info}"

echo "==> benchmark: $RUNS runs each, interleaved"
args=(--socket "$MA_SOCK" --containerd-address "$MA_ADDR" --floor-namespace "$FLOOR_NS" --runs "$RUNS" -n default
	--floor-log-shim "$MA_REPO/bin/miniagent-daemon" --floor-log-dir "$WORK/floorlogs")
[ -n "${BENCH_POLL:-}" ] && args+=(--poll "$BENCH_POLL")
if [ "${BENCH_STEPS:-1}" = 1 ]; then
	args+=(--steps-namespace "$STEPS_NS" --steps-state-dir "$WORK/steps" --log-shim "$MA_REPO/bin/miniagent-daemon")
fi
"$WORK/benchstart" "${args[@]}"
