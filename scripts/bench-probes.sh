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
#   BENCH_READY_TIMEOUT=5m    how long the pods may take to become ready
#   BENCH_KEEP_LOG=FILE       copy the daemon's log to FILE at the end
#   BENCH_SKIP_SETUP=1        do not run scripts/setup.sh
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
#
# Everything it creates is its own and is removed at the end: the daemon
# (own --socket, --root-dir, --pod-logs-dir, --cgroup-root miniagent-bench-probes),
# the containerd namespace miniagent-bench-probes with its containers,
# snapshots and image, the cgroup directories and the temporary directory.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ADDR=${MINIAGENT_CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
NS=miniagent-bench-probes
CGROUP_ROOT=miniagent-bench-probes
export PATH=$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin

die() { printf 'bench-probes.sh: error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
if [ "${BENCH_SKIP_SETUP:-}" != 1 ]; then
	bash "$REPO/scripts/setup.sh"
fi

WORK=$(mktemp -d /tmp/miniagent-bench-probes.XXXXXX)
BIN=$WORK/miniagent
SOCK=$WORK/agent.sock
LOG=$WORK/agent.log
DAEMON_PID=

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
	for pass in 1 2; do # children first, then the image's layers
		for id in $(ctrn snapshots ls 2>/dev/null | awk 'NR>1{print $1}'); do
			ctrn snapshots rm "$id" >/dev/null 2>&1 || true
		done
		[ "$pass" = 1 ] && for id in $(ctrn images ls -q 2>/dev/null); do
			ctrn images rm "$id" >/dev/null 2>&1 || true
		done
	done
	for _ in $(seq 1 50); do # content goes with containerd's garbage collector
		ctr --address "$ADDR" namespaces rm "$NS" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "warning: containerd namespace $NS could not be removed" >&2
}

cleanup() {
	local rc=$? p d
	set +e
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		# benchprobes deletes its pods; anything left (an interrupted run) goes here.
		for p in $("$BIN" --socket "$SOCK" get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' 2>/dev/null); do
			"$BIN" --socket "$SOCK" delete pod "${p#*/}" -n "${p%%/*}" --grace-period 0 --wait=true >/dev/null 2>&1
		done
		kill -TERM "$DAEMON_PID"
		for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$DAEMON_PID" 2>/dev/null && kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null
	fi
	if [ "$rc" != 0 ] && [ -f "$LOG" ]; then
		echo "--- last lines of the daemon log ---" >&2
		grep -v 'msg=probe ' "$LOG" | tail -n 30 >&2
	fi
	[ -n "${BENCH_KEEP_LOG:-}" ] && [ -f "$LOG" ] && cp "$LOG" "$BENCH_KEEP_LOG"
	remove_namespace
	awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	for d in /sys/fs/cgroup/*/"$CGROUP_ROOT" /sys/fs/cgroup/"$CGROUP_ROOT"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> build miniagent and scripts/benchprobes into $WORK"
(cd "$REPO" && go build -o "$BIN" ./cmd/miniagent && go build -o "$WORK/benchprobes" ./scripts/benchprobes)

echo "==> busybox image into containerd namespace $NS"
TAR=$REPO/bin/busybox-image.tar
if [ ! -f "$TAR" ]; then
	TAR=$WORK/busybox.tar
	bash "$REPO/scripts/build-busybox-image.sh" "$TAR"
fi
"$BIN" image import "$TAR" --containerd-address "$ADDR" --containerd-namespace "$NS" >/dev/null

echo "==> daemon --v debug (namespace $NS, cgroup root $CGROUP_ROOT, files under $WORK)"
mkdir -p "$WORK/root" "$WORK/pods"
"$BIN" daemon \
	--containerd-address "$ADDR" \
	--containerd-namespace "$NS" \
	--root-dir "$WORK/root" \
	--socket "$SOCK" \
	--pod-logs-dir "$WORK/pods" \
	--cgroup-root "$CGROUP_ROOT" \
	--v debug \
	>"$LOG" 2>&1 </dev/null &
DAEMON_PID=$!
for i in $(seq 1 150); do
	"$BIN" --socket "$SOCK" get node -o json >/dev/null 2>&1 && break
	kill -0 "$DAEMON_PID" 2>/dev/null || die "daemon exited"
	[ "$i" = 150 ] && die "daemon did not answer on $SOCK within 30s"
	sleep 0.2
done

# containerd's own CPU is shown too when exactly one containerd runs.
CTD_PID=0
if pids=$(pgrep -x containerd) && [ "$(wc -w <<<"$pids")" = 1 ]; then
	CTD_PID=$pids
fi

echo "==> $(nproc) CPUs, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$WORK/benchprobes" --socket "$SOCK" --log "$LOG" --pid "$DAEMON_PID" --containerd-pid "$CTD_PID" --containerd-namespace "$NS" \
	--pods "${BENCH_PODS:-100}" --window "${BENCH_WINDOW:-60s}" --ready-timeout "${BENCH_READY_TIMEOUT:-5m}"
echo "==> load after the run $(cut -d' ' -f1-3 /proc/loadavg)"
