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

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/bin/miniagent
ADDR=${MINIAGENT_CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
RUNS=${BENCH_RUNS:-20}
NS=miniagent-bench-oom
CGROUP_ROOT=miniagent-bench-oom
export PATH=$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin

die() { printf 'bench-oom.sh: error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
[ -f /sys/fs/cgroup/memory/memory.oom_control ] || die "needs the cgroup v1 memory hierarchy at /sys/fs/cgroup/memory"

if [ "${BENCH_SKIP_SETUP:-}" != 1 ]; then
	bash "$REPO/scripts/setup.sh"
fi
[ -x "$BIN" ] || die "no $BIN (run scripts/setup.sh)"
[ -f "$REPO/bin/busybox-image.tar" ] || die "no bin/busybox-image.tar (run scripts/setup.sh)"

WORK=$(mktemp -d /tmp/miniagent-bench-oom.XXXXXX)
DAEMON_PID=
SOCK=
LOG=

ctrn() { ctr --address "$ADDR" -n "$NS" "$@"; }

# remove_namespace: every task, container, snapshot and image of $NS, then $NS.
remove_namespace() {
	local id pass
	ctr --address "$ADDR" namespaces ls -q 2>/dev/null | grep -qx "$NS" || return 0
	for id in $(ctrn tasks ls -q 2>/dev/null); do
		ctrn tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
		ctrn tasks delete -f "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctrn containers ls -q 2>/dev/null); do
		ctrn containers delete "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctrn images ls -q 2>/dev/null); do
		ctrn images rm "$id" >/dev/null 2>&1 || true
	done
	# Snapshots go child first: one pass per layer.
	for pass in 1 2 3; do
		for id in $(ctrn snapshots ls 2>/dev/null | awk 'NR>1{print $1}'); do
			ctrn snapshots rm "$id" >/dev/null 2>&1 || true
		done
	done
	# Content goes with containerd's garbage collector a moment later.
	for _ in $(seq 1 50); do
		ctr --address "$ADDR" namespaces rm "$NS" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "warning: containerd namespace $NS could not be removed" >&2
}

# remove_cgroups: $CGROUP_ROOT in every hierarchy, leaves first.
remove_cgroups() {
	local d
	for d in /sys/fs/cgroup/*/"$CGROUP_ROOT" /sys/fs/cgroup/"$CGROUP_ROOT"; do
		[ -d "$d" ] || continue
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		[ -d "$d" ] && echo "warning: could not remove cgroup $d" >&2
	done
	return 0
}

# stop_daemon: delete the daemon's pods, stop it, remove its cgroups.
stop_daemon() {
	local p
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		# The daemon leaves pods running when stopped: delete them first.
		for p in $("$BIN" --socket "$SOCK" get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' 2>/dev/null); do
			"$BIN" --socket "$SOCK" delete pod "${p#*/}" -n "${p%%/*}" --grace-period 0 --wait=true >/dev/null 2>&1 || true
		done
		kill -TERM "$DAEMON_PID"
		for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$DAEMON_PID" 2>/dev/null && kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	DAEMON_PID=
	remove_cgroups
}

cleanup() {
	local rc=$?
	set +e
	trap '' INT TERM
	stop_daemon
	if [ "$rc" != 0 ] && [ -n "$LOG" ] && [ -f "$LOG" ]; then
		echo "--- last lines of the daemon log ($LOG) ---" >&2
		tail -n 30 "$LOG" >&2
	fi
	if [ -n "${BENCH_KEEP_LOGS:-}" ]; then
		mkdir -p "$BENCH_KEEP_LOGS" && cp "$WORK"/*.log "$BENCH_KEEP_LOGS"/ 2>/dev/null
	fi
	remove_namespace
	# Mounts (netns bind mounts) under the work dir, deepest first.
	awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	remove_cgroups
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_daemon NAME [FLAGS...]: a daemon with its own socket, root and logs.
start_daemon() {
	local name=$1 i
	shift
	remove_cgroups
	SOCK=$WORK/$name.sock
	LOG=$WORK/$name.log
	mkdir -p "$WORK/$name/root" "$WORK/$name/pods"
	echo "==> daemon $name: $*"
	# Its own session: a Ctrl-C on the terminal reaches this script (which
	# deletes the pods, then stops the daemon) but not the daemon itself.
	setsid "$BIN" daemon \
		--containerd-address "$ADDR" \
		--containerd-namespace "$NS" \
		--root-dir "$WORK/$name/root" \
		--socket "$SOCK" \
		--pod-logs-dir "$WORK/$name/pods" \
		--cgroup-root "$CGROUP_ROOT" \
		--v "${BENCH_LOG_LEVEL:-info}" \
		"$@" >"$LOG" 2>&1 </dev/null &
	DAEMON_PID=$!
	for i in $(seq 1 150); do
		"$BIN" --socket "$SOCK" get node -o json >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || die "daemon $name exited"
		[ "$i" = 150 ] && die "daemon $name did not answer on $SOCK within 30s"
		sleep 0.2
	done
}

echo "==> build scripts/benchoom"
(cd "$REPO" && go build -o "$WORK/benchoom" ./scripts/benchoom)

echo "==> busybox image into containerd namespace $NS"
"$BIN" image import "$REPO/bin/busybox-image.tar" --containerd-address "$ADDR" --containerd-namespace "$NS" >/dev/null

bench() { "$WORK/benchoom" --socket "$SOCK" --cgroup-root "$CGROUP_ROOT" --runs "$RUNS" "$@"; }

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
