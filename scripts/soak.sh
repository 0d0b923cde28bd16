#!/usr/bin/env bash
# soak.sh - a bounded leak check. Starts its own miniagent daemon, runs
# create/delete cycles of a pod with an init container, two containers and
# two emptyDirs (disk and Memory), then checks that nothing is left behind:
#
#   - no containers, tasks or active snapshots in the containerd namespace
#   - no containerd shim or crilog-shim process of this run
#   - no pod* cgroup directory under /sys/fs/cgroup/*/<cgroup-root>
#   - no mount under the root dir in /proc/self/mountinfo
#   - no directory under <root-dir>/pods, no netns state under <root-dir>/ns,
#     no checkpoint under <root-dir>/checkpoints, no pod log directory
#   - the daemon's open fds and threads back within a small margin of where
#     they were after a warm-up cycle (Go keeps idle threads, hence the margin)
#
# It exits non-zero with a message per leak. Run as root:
#
#   soak.sh
#
# Environment:
#   SOAK_CYCLES=50      create/delete cycles
#   SOAK_FD_MARGIN=4    allowed growth of the daemon's open fds
#   SOAK_THREAD_MARGIN=8  allowed growth of the daemon's threads
#   SOAK_SKIP_SETUP=1   do not run scripts/setup.sh (bin/miniagent must exist)
#   SOAK_KEEP_LOG=FILE  copy the daemon's log to FILE at the end
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CYCLES=${SOAK_CYCLES:-50}
FD_MARGIN=${SOAK_FD_MARGIN:-4}
THREAD_MARGIN=${SOAK_THREAD_MARGIN:-8}
MA_NS=miniagent-soak
MA_CGROUP_ROOT=miniagent-soak
POD=soak

ma_require_root
ma_setup "${SOAK_SKIP_SETUP:-}" --need-bin

ma_make_workdir miniagent-soak
WORK=$MA_WORK
ROOT=$WORK/root
LOGS=$WORK/pods
export MINIAGENT_SOCKET=$WORK/agent.sock
ma_on_exit ma_clean_cgroups "$MA_CGROUP_ROOT"
ma_on_exit ma_clean_namespace "$MA_NS"
ma_on_exit ma_keep_log "${SOAK_KEEP_LOG:-}"
ma_on_exit ma_tail_log_on_failure

ma() { "$MA_BIN" "$@"; }
ctrn() { ma_ctr "$MA_NS" "$@"; }

# --- the pod ---------------------------------------------------------------------
# The containers exit on SIGTERM, so deletion takes the graceful path.
cat >"$WORK/pod.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: soak
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

# --- measurements ----------------------------------------------------------------
fds() { ls "/proc/$MA_DAEMON_PID/fd" | wc -l; }
threads() { awk '/^Threads:/{print $2}' "/proc/$MA_DAEMON_PID/status"; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$MA_DAEMON_PID/status"; }

# cycle N: apply, wait until both containers run (the init container done),
# then delete with the pod's grace period and wait until it is gone.
cycle() {
	local i
	ma apply -f "$WORK/pod.yaml" >/dev/null
	for i in $(seq 1 300); do
		if [ "$(ma get pods "$POD" -o jsonpath='{.status.phase}/{.status.containerStatuses[*].state.running.startedAt}' 2>/dev/null |
			awk -F/ '{print $1 " " split($2, a, " ")}')" = "Running 2" ]; then
			break
		fi
		if [ "$i" = 300 ]; then
			ma describe pod "$POD" >&2 || true
			ma_die "cycle $1: pod $POD not Running with 2 containers after 30s"
		fi
		sleep 0.1
	done
	ma delete pod "$POD" --wait=true >/dev/null
}

echo "==> image into $MA_NS"
ma_import_image "$MA_REPO/bin/busybox-image.tar" "$MA_NS"

echo "==> daemon (namespace $MA_NS, cgroup root $MA_CGROUP_ROOT, files under $WORK)"
ma_start_daemon "$MINIAGENT_SOCKET" "$WORK/agent.log" "$WORK"

echo "==> warm-up cycle"
cycle 0
sleep 1
fd0=$(fds) th0=$(threads) rss0=$(rss_kb)
echo "    baseline: fds $fd0, threads $th0, rss ${rss0} kB"

echo "==> $CYCLES create/delete cycles"
start=$(date +%s)
for n in $(seq 1 "$CYCLES"); do
	cycle "$n"
	[ $((n % 10)) = 0 ] && echo "    $n cycles: fds $(fds), threads $(threads), rss $(rss_kb) kB"
done
echo "    $CYCLES cycles in $(($(date +%s) - start))s"
sleep 2 # let idle connections and exit monitors wind down
fd1=$(fds) th1=$(threads) rss1=$(rss_kb)
echo "    after: fds $fd1, threads $th1, rss ${rss1} kB"

# --- checks ----------------------------------------------------------------------
echo "==> checks"
leaks=0
leak() { printf '    LEAK: %s\n' "$*"; leaks=$((leaks + 1)); }
ok() { printf '    ok: %s\n' "$*"; }
# show LINES LABEL: report LINES (possibly empty) as a leak or ok.
check_empty() {
	local what=$1 out=$2
	if [ -n "$out" ]; then
		leak "$what:"
		printf '%s\n' "$out" | head -n 10 | sed 's/^/        /'
	else
		ok "no $what"
	fi
}

kill -0 "$MA_DAEMON_PID" 2>/dev/null || leak "the daemon died during the soak"
check_empty "pods left in the API" "$(ma get pods -A -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' 2>/dev/null)"
check_empty "containerd containers in $MA_NS" "$(ctrn containers ls -q)"
check_empty "containerd tasks in $MA_NS" "$(ctrn tasks ls -q)"
check_empty "active snapshots in $MA_NS" "$(ctrn snapshots ls | awk 'NR>1 && $NF=="Active"')"
check_empty "containerd shims of $MA_NS" "$(pgrep -af "containerd-shim.*-namespace $MA_NS( |$)" || true)"
check_empty "crilog-shim processes writing under $LOGS" "$(pgrep -af "crilog-shim $LOGS/" || true)"
check_empty "pod cgroups under */$MA_CGROUP_ROOT" "$(find /sys/fs/cgroup/*/"$MA_CGROUP_ROOT" -type d -name 'pod*' 2>/dev/null)"
check_empty "mounts under $ROOT" "$(awk -v r="$ROOT" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo)"
check_empty "directories under $ROOT/pods" "$(find "$ROOT/pods" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_empty "netns state under $ROOT/ns" "$(find "$ROOT/ns" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_empty "pod checkpoints under $ROOT/checkpoints" "$(find "$ROOT/checkpoints" -mindepth 1 -maxdepth 1 2>/dev/null)"
check_empty "pod log directories under $LOGS" "$(find "$LOGS" -mindepth 1 -maxdepth 1 2>/dev/null)"
if [ "$fd1" -gt $((fd0 + FD_MARGIN)) ]; then
	leak "daemon fds grew from $fd0 to $fd1 (margin $FD_MARGIN):"
	ls -l "/proc/$MA_DAEMON_PID/fd" | awk 'NR>1{print $NF}' | sed 's/[0-9]\+/N/g' | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/        /'
else
	ok "daemon fds $fd0 -> $fd1 (margin $FD_MARGIN)"
fi
if [ "$th1" -gt $((th0 + THREAD_MARGIN)) ]; then
	leak "daemon threads grew from $th0 to $th1 (margin $THREAD_MARGIN)"
else
	ok "daemon threads $th0 -> $th1 (margin $THREAD_MARGIN)"
fi
echo "    (info) daemon rss ${rss0} kB -> ${rss1} kB"

if [ "$leaks" -gt 0 ]; then
	echo "soak.sh: FAILED: $leaks leak(s) after $CYCLES cycles" >&2
	exit 1
fi
echo "soak.sh: PASSED: $CYCLES cycles, nothing left behind"
