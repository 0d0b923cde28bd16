#!/usr/bin/env bash
# soak.sh - a bounded leak check. Starts its own miniagent daemon and runs
# create/delete cycles of a pod with an init container, two containers and
# two emptyDirs (disk and Memory), SOAK_PARALLEL of them at a time (each
# worker its own pod name), then checks that nothing is left behind:
#
#   - no pods in the API; no containers, tasks or active snapshots in the
#     containerd namespace, no task bundle of it
#   - no containerd shim of the namespace, no log process (miniagent-crilog
#     or crilog-shim) writing under the pod logs dir
#   - no pod* cgroup directory under /sys/fs/cgroup/*/<cgroup-root>
#   - no mount under the root dir in /proc/self/mountinfo
#   - no directory under <root-dir>/pods, no netns state under <root-dir>/ns,
#     no checkpoint under <root-dir>/checkpoints or desired pod under
#     <root-dir>/desired, no pod log directory
#   - the daemon's open fds, threads and goroutines (GET /debug/goroutines on
#     its socket) back within a small margin of where they were after a
#     warm-up round (Go keeps idle threads, hence the margins); RSS growth is
#     reported
#
# It prints progress every SOAK_PROGRESS cycles and gives up after
# SOAK_TIMEOUT seconds. It exits non-zero with a message per leak. Run as root:
#
#   soak.sh
#
# Environment:
#   SOAK_CYCLES=1000         create/delete cycles in all
#   SOAK_PARALLEL=10         cycles running at once
#   SOAK_TIMEOUT=7200        seconds the cycles may take in all
#   SOAK_CYCLE_TIMEOUT=60    seconds one pod may take to run
#   SOAK_PROGRESS=50         print a progress line every N cycles
#   SOAK_FD_MARGIN=4         allowed growth of the daemon's open fds
#   SOAK_THREAD_MARGIN=8     allowed growth of the daemon's threads
#   SOAK_GOROUTINE_MARGIN=5  allowed growth of the daemon's goroutines
#   SOAK_NAMESPACE=miniagent-soak  containerd namespace and cgroup root
#   SOAK_SKIP_SETUP=1        do not run scripts/setup.sh (bin/miniagent must exist)
#   SOAK_KEEP_LOG=FILE       copy the daemon's log to FILE at the end
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CYCLES=${SOAK_CYCLES:-1000}
PARALLEL=${SOAK_PARALLEL:-10}
TIMEOUT=${SOAK_TIMEOUT:-7200}
CYCLE_TIMEOUT=${SOAK_CYCLE_TIMEOUT:-60}
PROGRESS=${SOAK_PROGRESS:-50}
FD_MARGIN=${SOAK_FD_MARGIN:-4}
THREAD_MARGIN=${SOAK_THREAD_MARGIN:-8}
GOROUTINE_MARGIN=${SOAK_GOROUTINE_MARGIN:-5}
MA_NS=${SOAK_NAMESPACE:-miniagent-soak}
MA_CGROUP_ROOT=$MA_NS
for v in CYCLES PARALLEL TIMEOUT CYCLE_TIMEOUT PROGRESS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || ma_die "SOAK_$v=${!v}: want a positive number"
done
[ "$PARALLEL" -le "$CYCLES" ] || PARALLEL=$CYCLES

ma_require_root
ma_setup "${SOAK_SKIP_SETUP:-}" --need-bin
command -v curl >/dev/null || ma_die "curl is needed to read the daemon's goroutine count"

ma_make_workdir miniagent-soak
WORK=$MA_WORK
ROOT=$WORK/root
LOGS=$WORK/pods
export MINIAGENT_SOCKET=$WORK/agent.sock
WORKERS=()
ma_on_exit ma_clean_cgroups "$MA_CGROUP_ROOT"
ma_on_exit ma_clean_namespace "$MA_NS"
ma_on_exit ma_keep_log "${SOAK_KEEP_LOG:-}"
ma_on_exit ma_tail_log_on_failure

ma() { "$MA_BIN" "$@"; }
ctrn() { ma_ctr "$MA_NS" "$@"; }

# --- the pod ---------------------------------------------------------------------
# The containers exit on SIGTERM, so deletion takes the graceful path.
# pod_yaml NAME
pod_yaml() {
	cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  terminationGracePeriodSeconds: 5
  volumes:
  - name: scratch
    emptyDir: {}
  - name: mem
    emptyDir:
      medium: Memory
      sizeLimit: 1Mi
  initContainers:
  - name: init
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo init > /scratch/hello && echo mem > /mem/hello"]
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: mem, mountPath: /mem}
  containers:
  - name: one
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; cat /scratch/hello /mem/hello; while true; do sleep 1; done"]
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: mem, mountPath: /mem}
  - name: two
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; echo two; while true; do sleep 1; done"]
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
EOF
}

# --- measurements ----------------------------------------------------------------
fds() { ls "/proc/$MA_DAEMON_PID/fd" | wc -l; }
threads() { awk '/^Threads:/{print $2}' "/proc/$MA_DAEMON_PID/status"; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$MA_DAEMON_PID/status"; }
goroutines() { curl -sf --max-time 10 --unix-socket "$MINIAGENT_SOCKET" http://miniagent/debug/goroutines || echo "?"; }
sample() { echo "fds $(fds), threads $(threads), goroutines $(goroutines), rss $(rss_kb) kB"; }

# cycle POD N: apply, wait until both containers run (the init container
# done), then delete with the pod's grace period and wait until it is gone.
# On failure it writes why to $WORK/failed and returns 1.
cycle() {
	local pod=$1 n=$2 i tries=$((CYCLE_TIMEOUT * 4)) out
	if ! out=$(ma apply -f "$WORK/$pod.yaml" 2>&1); then
		echo "cycle $n ($pod): apply: $out" >>"$WORK/failed"
		return 1
	fi
	for i in $(seq 1 "$tries"); do
		if [ "$(ma get pods "$pod" -o jsonpath='{.status.phase}/{.status.containerStatuses[*].state.running.startedAt}' 2>/dev/null |
			awk -F/ '{print $1 " " split($2, a, " ")}')" = "Running 2" ]; then
			break
		fi
		if [ "$i" = "$tries" ]; then
			{
				echo "cycle $n ($pod): not Running with 2 containers after ${CYCLE_TIMEOUT}s:"
				ma describe pod "$pod" 2>&1 | sed 's/^/    /'
			} >>"$WORK/failed"
			return 1
		fi
		sleep 0.25
	done
	if ! out=$(ma delete pod "$pod" --wait=true 2>&1); then
		echo "cycle $n ($pod): delete: $out" >>"$WORK/failed"
		return 1
	fi
	echo "$n" >>"$WORK/done"
}

# worker W: cycles W, W+PARALLEL, ... below CYCLES with pod soak-W.
worker() {
	trap - EXIT INT TERM
	local n
	for ((n = $1; n < CYCLES; n += PARALLEL)); do
		cycle "soak-$1" "$n" || exit 1
	done
}

stop_workers() {
	local pid
	for pid in "${WORKERS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${WORKERS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	WORKERS=()
}

echo "==> image into $MA_NS"
ma_import_image "$MA_REPO/bin/busybox-image.tar" "$MA_NS"

echo "==> daemon (namespace $MA_NS, cgroup root $MA_CGROUP_ROOT, files under $WORK)"
ma_start_daemon "$MINIAGENT_SOCKET" "$WORK/agent.log" "$WORK"
ma_on_exit stop_workers # before the daemon's pods are deleted
[ "$(goroutines)" != "?" ] || ma_die "GET /debug/goroutines on $MINIAGENT_SOCKET failed (daemon without agent/api/debug.go?)"
for ((w = 0; w < PARALLEL; w++)); do
	pod_yaml "soak-$w" >"$WORK/soak-$w.yaml"
done

echo "==> warm-up: one cycle per worker ($PARALLEL at once)"
: >"$WORK/done"
for ((w = 0; w < PARALLEL; w++)); do
	cycle "soak-$w" "warm-up" &
	WORKERS+=($!)
done
for pid in "${WORKERS[@]}"; do
	wait "$pid" || { cat "$WORK/failed" >&2; ma_die "warm-up cycle failed"; }
done
WORKERS=()
sleep 2
fd0=$(fds) th0=$(threads) go0=$(goroutines) rss0=$(rss_kb)
echo "    baseline: fds $fd0, threads $th0, goroutines $go0, rss ${rss0} kB"

echo "==> $CYCLES create/delete cycles, $PARALLEL at a time (timeout ${TIMEOUT}s)"
: >"$WORK/done"
start=$SECONDS
for ((w = 0; w < PARALLEL; w++)); do
	worker "$w" 2>"$WORK/worker-$w.log" &
	WORKERS+=($!)
done
next=$PROGRESS
while :; do
	done_n=$(wc -l <"$WORK/done")
	elapsed=$((SECONDS - start))
	if [ "$done_n" -ge "$next" ] || [ "$done_n" -ge "$CYCLES" ]; then
		echo "    $done_n/$CYCLES cycles in ${elapsed}s: $(sample)"
		next=$(((done_n / PROGRESS + 1) * PROGRESS))
	fi
	[ "$done_n" -lt "$CYCLES" ] || break
	if [ -s "$WORK/failed" ]; then
		cat "$WORK/failed" >&2
		ma_die "a cycle failed after $done_n cycles"
	fi
	kill -0 "$MA_DAEMON_PID" 2>/dev/null || ma_die "the daemon died after $done_n cycles"
	[ "$elapsed" -lt "$TIMEOUT" ] || ma_die "timeout: $done_n of $CYCLES cycles in ${TIMEOUT}s (SOAK_TIMEOUT)"
	sleep 1
done
stop_workers
echo "    $CYCLES cycles in $((SECONDS - start))s"
# Let idle connections and exit monitors wind down (goroutines: up to 10 s).
for _ in $(seq 1 10); do
	sleep 1
	g=$(goroutines)
	[ "$g" != "?" ] && [ "$g" -le $((go0 + GOROUTINE_MARGIN)) ] && break
done
fd1=$(fds) th1=$(threads) go1=$(goroutines) rss1=$(rss_kb)
echo "    after: fds $fd1, threads $th1, goroutines $go1, rss ${rss1} kB"

# --- checks ----------------------------------------------------------------------
echo "==> checks"
leaks=0
leak() { printf '    LEAK: %s\n' "$*"; leaks=$((leaks + 1)); }
ok() { printf '    ok: %s\n' "$*"; }
# check_empty WHAT LINES: report LINES (possibly empty) as a leak or ok.
check_empty() {
	local what=$1 out=$2
	if [ -n "$out" ]; then
		leak "$what:"
		printf '%s\n' "$out" | head -n 10 | sed 's/^/        /'
	else
		ok "no $what"
	fi
}
# check_flat WHAT BEFORE AFTER MARGIN
check_flat() {
	if [ "$3" = "?" ] || [ "$3" -gt $(($2 + $4)) ]; then
		leak "daemon $1 grew from $2 to $3 (margin $4)"
		return 1
	fi
	ok "daemon $1 $2 -> $3 (margin $4)"
}
if [ "$MA_ADDR" = /run/containerd/containerd.sock ]; then
	BUNDLES=/run/containerd/io.containerd.runtime.v2.task/$MA_NS
else
	BUNDLES=$(dirname "$MA_ADDR")/state/io.containerd.runtime.v2.task/$MA_NS
fi

kill -0 "$MA_DAEMON_PID" 2>/dev/null || leak "the daemon died during the soak"
check_empty "pods left in the API" "$(ma get pods -A -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' 2>/dev/null)"
check_empty "containerd containers in $MA_NS" "$(ctrn containers ls -q)"
check_empty "containerd tasks in $MA_NS" "$(ctrn tasks ls -q)"
check_empty "active snapshots in $MA_NS" "$(ctrn snapshots ls | awk 'NR>1 && $NF=="Active"')"
check_empty "task bundles under $BUNDLES" "$(find "$BUNDLES" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_empty "containerd shims of $MA_NS" "$(pgrep -af "containerd-shim.*-namespace $MA_NS( |$)" || true)"
check_empty "log processes writing under $LOGS" "$(pgrep -af "crilog(-shim)? $LOGS/" || true)"
check_empty "pod cgroups under */$MA_CGROUP_ROOT" "$(find /sys/fs/cgroup/*/"$MA_CGROUP_ROOT" -type d -name 'pod*' 2>/dev/null)"
check_empty "mounts under $ROOT" "$(awk -v r="$ROOT" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo)"
check_empty "directories under $ROOT/pods" "$(find "$ROOT/pods" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_empty "netns state under $ROOT/ns" "$(find "$ROOT/ns" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_empty "pod checkpoints under $ROOT/checkpoints" "$(find "$ROOT/checkpoints" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_empty "desired pods under $ROOT/desired" "$(find "$ROOT/desired" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_empty "pod log directories under $LOGS" "$(find "$LOGS" -mindepth 1 -maxdepth 1 2>/dev/null)"
if ! check_flat fds "$fd0" "$fd1" "$FD_MARGIN"; then
	ls -l "/proc/$MA_DAEMON_PID/fd" | awk 'NR>1{print $NF}' | sed 's/[0-9]\+/N/g' | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/        /'
fi
check_flat threads "$th0" "$th1" "$THREAD_MARGIN" || true
if ! check_flat goroutines "$go0" "$go1" "$GOROUTINE_MARGIN"; then
	echo "        goroutine profile (top):"
	curl -sf --max-time 10 --unix-socket "$MINIAGENT_SOCKET" 'http://miniagent/debug/goroutines?debug=1' |
		awk '/^[0-9]+ @/{n++} n<=6' | grep -E '^[0-9]+ @|^#' | head -n 40 | sed 's/^/        /'
fi
echo "    (info) daemon rss ${rss0} kB -> ${rss1} kB ($(((rss1 - rss0) * 100 / rss0))%, $(((rss1 - rss0) / CYCLES)) kB per cycle)"

if [ "$leaks" -gt 0 ]; then
	echo "soak.sh: FAILED: $leaks leak(s) after $CYCLES cycles" >&2
	exit 1
fi
echo "soak.sh: PASSED: $CYCLES cycles, nothing left behind"
