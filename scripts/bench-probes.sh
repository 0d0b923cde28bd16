#!/usr/bin/env bash
# bench-probes.sh - probe density benchmark: N running busybox pods (httpd +
# a sleeping shell), each with an HTTP readiness probe every second and an
# exec liveness probe every 10 seconds, on a miniagent daemon of its own.
# Reports the daemon's CPU % (utime+stime from /proc/PID/stat over the
# window) and RSS, the probe latency distribution, how late probes begin
# against their schedule, and how far the gap between two runs of a probe
# strays from its period (from the daemon's "probe" debug log lines).
#
#   bench-probes.sh
#
# Environment:
#   BENCH_PODS=100            pods
#   BENCH_WINDOW=60s          measurement window (after all pods are ready + 5 s)
#   BENCH_NET_WINDOW=0        > 0: first a phase of this window with the HTTP
#                             readiness probes only; the summary then splits the
#                             CPU per exec probe into agent, containerd and
#                             shims + runc + the probe command
#   BENCH_FLOOR_WINDOW=60s    with BENCH_NET_WINDOW: after the network-only
#                             window, make the same HTTP connections from one
#                             thread with bare system calls for this long (the
#                             agent keeps probing) and report that thread's CPU
#                             per probe beside the agent's (0: skip)
#   BENCH_READY_TIMEOUT=5m    how long the pods may take to become ready
#   BENCH_KEEP_LOG=FILE       copy the daemon's log to FILE at the end
#   BENCH_SERVER=benchhttpd   the pods' HTTP server: benchhttpd (one process,
#                             scripts/benchprobes/httpd) or busybox (busybox
#                             httpd, a fork per request)
#   BENCH_DAEMON_ARGS="..."   more daemon flags (e.g. --exec-helper none for
#                             exec probes through runc exec, as before)
#   BENCH_LOG_LEVEL=debug     the daemon's --v; the probe latency and drift
#                             tables need debug (its "probe" lines); at info
#                             the agent's CPU is measured without that logging
#   BENCH_PROFILE_DIR=DIR     write the daemon's CPU profile of each window and
#                             its heap and goroutine profiles at the window's
#                             end to DIR ({net,full}.{cpu,heap}.pprof,
#                             {net,full}.goroutine.txt), through /debug/pprof
#   BENCH_REV=REV             build miniagent from git revision REV instead of
#                             the working tree (before/after comparisons)
#   BENCH_NAMESPACE=NAME      containerd namespace (default miniagent-bench-probes)
#   BENCH_CGROUP_ROOT=NAME    cgroup root (default: the namespace)
#   BENCH_SKIP_SETUP=1        do not run scripts/setup.sh
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
#
# Everything it creates is its own and is removed at the end: the daemon
# (own --socket, --root-dir and --pod-logs-dir under its temporary
# directory, --cgroup-root BENCH_CGROUP_ROOT), the containerd namespace
# BENCH_NAMESPACE with its containers, snapshots and image, the cgroup
# directories and the temporary directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

MA_NS=${BENCH_NAMESPACE:-miniagent-bench-probes}
MA_CGROUP_ROOT=${BENCH_CGROUP_ROOT:-$MA_NS}
LOG_LEVEL=${BENCH_LOG_LEVEL:-debug}

ma_require_root
ma_setup "${BENCH_SKIP_SETUP:-}"

ma_make_workdir miniagent-bench-probes
WORK=$MA_WORK
MA_BIN=$WORK/miniagent
ma_on_exit ma_clean_cgroups "$MA_CGROUP_ROOT"
ma_on_exit ma_clean_namespace "$MA_NS"
ma_on_exit ma_keep_log "${BENCH_KEEP_LOG:-}"
ma_on_exit ma_tail_log_on_failure 'msg=probe '
# benchprobes deletes its pods; anything left (an interrupted run) goes with
# the daemon's stop.

SRC=$MA_REPO
if [ -n "${BENCH_REV:-}" ]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$MA_REPO" archive "$BENCH_REV" | tar -x -C "$SRC"
fi
echo "==> build miniagent, its daemon and helpers from ${BENCH_REV:-the working tree} and scripts/benchprobes into $WORK"
(cd "$SRC" && go build -o "$MA_BIN" ./cmd/miniagent)
(cd "$MA_REPO" && go build -o "$WORK/benchprobes" ./scripts/benchprobes)
ma_build_helpers "$WORK" "$SRC"
HTTPD_ARG=()
if [ "${BENCH_SERVER:-benchhttpd}" = benchhttpd ]; then
	gcc -static -Os -s -Wall -o "$WORK/benchhttpd" "$MA_REPO/scripts/benchprobes/httpd/benchhttpd.c"
	HTTPD_ARG=(--httpd "$WORK/benchhttpd")
fi

echo "==> busybox image into containerd namespace $MA_NS"
TAR=$MA_REPO/bin/busybox-image.tar
if [ ! -f "$TAR" ]; then
	TAR=$WORK/busybox.tar
	bash "$MA_REPO/scripts/build-busybox-image.sh" "$TAR"
fi
ma_import_image "$TAR" "$MA_NS"

echo "==> daemon --v $LOG_LEVEL (namespace $MA_NS, cgroup root $MA_CGROUP_ROOT, files under $WORK)"
# shellcheck disable=SC2086 # BENCH_DAEMON_ARGS is a list of flags
ma_start_daemon "$WORK/agent.sock" "$WORK/agent.log" "$WORK" --v "$LOG_LEVEL" --max-pods "$(( ${BENCH_PODS:-100} > 110 ? ${BENCH_PODS:-100} : 110 ))" ${BENCH_DAEMON_ARGS:-}

# containerd's own CPU is shown too when exactly one containerd runs.
CTD_PID=0
if pids=$(pgrep -x containerd) && [ "$(wc -w <<<"$pids")" = 1 ]; then
	CTD_PID=$pids
fi

echo "==> $(nproc) CPUs, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$WORK/benchprobes" --socket "$MA_SOCK" --log "$MA_LOG" --pid "$MA_DAEMON_PID" --containerd-pid "$CTD_PID" --containerd-namespace "$MA_NS" \
	"${HTTPD_ARG[@]}" --pods "${BENCH_PODS:-100}" --window "${BENCH_WINDOW:-60s}" --net-window "${BENCH_NET_WINDOW:-0}" --floor-window "${BENCH_FLOOR_WINDOW:-60s}" --netns-dir "$WORK/root/ns" --ready-timeout "${BENCH_READY_TIMEOUT:-5m}" \
	--profile-dir "${BENCH_PROFILE_DIR:-}"
echo "==> load after the run $(cut -d' ' -f1-3 /proc/loadavg)"
