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

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/bin/miniagent
ADDR=${MINIAGENT_CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}
RUNS=${BENCH_RUNS:-30}
NS=miniagent-bench
FLOOR_NS=miniagent-bench-floor
STEPS_NS=miniagent-bench-steps
CGROUP_ROOT=miniagent-bench
STEPS_CGROUP=miniagent-bench-steps # the top cgroup benchstart's step runs use
export PATH=$PATH:/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin

die() { printf 'bench-start.sh: error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

if [ "${BENCH_SKIP_SETUP:-}" != 1 ]; then
	bash "$REPO/scripts/setup.sh"
fi
[ -x "$BIN" ] || die "no $BIN (run scripts/setup.sh)"
[ -f "$REPO/bin/busybox-image.tar" ] || die "no bin/busybox-image.tar (run scripts/setup.sh)"

WORK=$(mktemp -d /tmp/miniagent-bench.XXXXXX)
SOCK=$WORK/agent.sock
LOG=$WORK/agent.log
DAEMON_PID=

ctrn() { ctr --address "$ADDR" -n "$1" "${@:2}"; }

# remove_namespace NS: every task, container, snapshot and image, then NS.
remove_namespace() {
	local ns=$1 id
	ctr --address "$ADDR" namespaces ls -q 2>/dev/null | grep -qx "$ns" || return 0
	for id in $(ctrn "$ns" tasks ls -q 2>/dev/null); do
		ctrn "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
		ctrn "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctrn "$ns" containers ls -q 2>/dev/null); do
		ctrn "$ns" containers delete "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctrn "$ns" snapshots ls 2>/dev/null | awk 'NR>1{print $1}'); do
		ctrn "$ns" snapshots rm "$id" >/dev/null 2>&1 || true
	done
	for id in $(ctrn "$ns" images ls -q 2>/dev/null); do
		ctrn "$ns" images rm "$id" >/dev/null 2>&1 || true
	done
	# Snapshots go child first: a second pass takes the image's layers.
	for id in $(ctrn "$ns" snapshots ls 2>/dev/null | awk 'NR>1{print $1}'); do
		ctrn "$ns" snapshots rm "$id" >/dev/null 2>&1 || true
	done
	# Content is released by containerd's garbage collector a moment later.
	for _ in $(seq 1 50); do
		ctr --address "$ADDR" namespaces rm "$ns" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "warning: containerd namespace $ns could not be removed" >&2
}

# remove_cgroups NAME: the cgroup directory NAME in every hierarchy, leaves first.
remove_cgroups() {
	local d
	for d in /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1"; do
		[ -d "$d" ] || continue
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		[ -d "$d" ] && echo "warning: could not remove cgroup $d" >&2
	done
	return 0
}

cleanup() {
	local rc=$?
	set +e
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		# The daemon leaves pods running when stopped: delete them first.
		local p
		for p in $("$BIN" --socket "$SOCK" get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' 2>/dev/null); do
			"$BIN" --socket "$SOCK" delete pod "${p#*/}" -n "${p%%/*}" --grace-period 0 --wait=true >/dev/null 2>&1
		done
		kill -TERM "$DAEMON_PID"
		for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$DAEMON_PID" 2>/dev/null && kill -KILL "$DAEMON_PID"
		wait "$DAEMON_PID" 2>/dev/null
	fi
	if [ "$rc" != 0 ] && [ -f "$LOG" ]; then
		echo "--- last lines of the daemon log ($LOG) ---" >&2
		tail -n 30 "$LOG" >&2
	fi
	[ -n "${BENCH_KEEP_LOG:-}" ] && [ -f "$LOG" ] && cp "$LOG" "$BENCH_KEEP_LOG"
	for ns in "$NS" "$FLOOR_NS" "$STEPS_NS"; do remove_namespace "$ns"; done
	# Mounts (netns bind mounts) under the work dir, deepest first.
	awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	remove_cgroups "$CGROUP_ROOT"
	remove_cgroups "$STEPS_CGROUP"
	remove_cgroups "$FLOOR_NS" # containerd's default cgroupsPath is /<namespace>/<id>
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> build scripts/benchstart"
(cd "$REPO" && go build -o "$WORK/benchstart" ./scripts/benchstart)

echo "==> busybox image into $NS, $FLOOR_NS, $STEPS_NS"
for ns in "$NS" "$FLOOR_NS" "$STEPS_NS"; do
	"$BIN" image import "$REPO/bin/busybox-image.tar" --containerd-address "$ADDR" --containerd-namespace "$ns" >/dev/null
done

echo "==> daemon (namespace $NS, cgroup root $CGROUP_ROOT, files under $WORK)"
mkdir -p "$WORK/root" "$WORK/pods"
"$BIN" daemon \
	--containerd-address "$ADDR" \
	--containerd-namespace "$NS" \
	--root-dir "$WORK/root" \
	--socket "$SOCK" \
	--pod-logs-dir "$WORK/pods" \
	--cgroup-root "$CGROUP_ROOT" \
	--v "${BENCH_LOG_LEVEL:-info}" \
	>"$LOG" 2>&1 </dev/null &
DAEMON_PID=$!
for i in $(seq 1 150); do
	"$BIN" --socket "$SOCK" get node -o json >/dev/null 2>&1 && break
	kill -0 "$DAEMON_PID" 2>/dev/null || die "daemon exited"
	[ "$i" = 150 ] && die "daemon did not answer on $SOCK within 30s"
	sleep 0.2
done

echo "==> benchmark: $RUNS runs each, interleaved"
args=(--socket "$SOCK" --containerd-address "$ADDR" --floor-namespace "$FLOOR_NS" --runs "$RUNS" -n default
	--floor-log-shim "$BIN" --floor-log-dir "$WORK/floorlogs")
[ -n "${BENCH_POLL:-}" ] && args+=(--poll "$BENCH_POLL")
if [ "${BENCH_STEPS:-1}" = 1 ]; then
	args+=(--steps-namespace "$STEPS_NS" --steps-state-dir "$WORK/steps" --log-shim "$BIN")
fi
"$WORK/benchstart" "${args[@]}"
