#!/usr/bin/env bash
# pod-overhead.sh - what a pod costs on the node besides its own processes:
# runs K busybox pods of 1 container, then K of 3 containers (each a
# sleeping shell with an exec liveness probe, so that each container runs
# its exec probe server), on a miniagent daemon of its own, and reports per
# pod the RSS and PSS (from /proc/PID/smaps_rollup) of the containerd shims
# serving them, of the log processes (miniagent-crilog; none in the default
# --container-log-mode=agent) and of the exec servers, separately, and how
# much the agent's RSS grew per pod.
#
#   pod-overhead.sh
#
# Environment:
#   OVERHEAD_PODS=10          K, pods of each kind
#   OVERHEAD_REV=REV          build miniagent from git revision REV instead of
#                             the working tree (e.g. a commit before shim
#                             grouping, to compare)
#   OVERHEAD_NAMESPACE=NAME   containerd namespace and cgroup root
#                             (default miniagent-pod-overhead)
#   OVERHEAD_LOG_MODE=MODE    the daemon's --container-log-mode: agent (default)
#                             or process
#   OVERHEAD_SKIP_SETUP=1     do not run scripts/setup.sh
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
#
# Everything it creates is its own and is removed at the end: the daemon
# (own --socket, --root-dir, --pod-logs-dir, --cgroup-root
# miniagent-pod-overhead), the containerd namespace miniagent-pod-overhead
# with its containers, snapshots and image, the cgroup directories and the
# temporary directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

MA_NS=${OVERHEAD_NAMESPACE:-miniagent-pod-overhead}
MA_CGROUP_ROOT=$MA_NS
K=${OVERHEAD_PODS:-10}
LOG_MODE=${OVERHEAD_LOG_MODE:-agent}

ma_require_root
ma_setup "${OVERHEAD_SKIP_SETUP:-}"

ma_make_workdir miniagent-pod-overhead
WORK=$MA_WORK
MA_BIN=$WORK/miniagent
ma_on_exit ma_clean_cgroups "$MA_CGROUP_ROOT"
ma_on_exit ma_clean_namespace "$MA_NS"
ma_on_exit ma_tail_log_on_failure

SRC=$MA_REPO
if [ -n "${OVERHEAD_REV:-}" ]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$MA_REPO" archive "$OVERHEAD_REV" | tar -x -C "$SRC"
fi
echo "==> build miniagent, miniagent-daemon and miniagent-crilog from ${OVERHEAD_REV:-the working tree} into $WORK"
# The log process next to the daemon, as a user installs it.
(cd "$SRC" && go build -o "$MA_BIN" ./cmd/miniagent)
ma_build_helpers "$WORK" "$SRC"

echo "==> busybox image into containerd namespace $MA_NS"
TAR=$MA_REPO/bin/busybox-image.tar
if [ ! -f "$TAR" ]; then
	TAR=$WORK/busybox.tar
	bash "$MA_REPO/scripts/build-busybox-image.sh" "$TAR"
fi
ma_import_image "$TAR" "$MA_NS"

MODE_ARG=()
if [ "$LOG_MODE" != agent ]; then # older revisions know no such flag
	MODE_ARG=(--container-log-mode "$LOG_MODE")
fi
ma_start_daemon "$WORK/agent.sock" "$WORK/agent.log" "$WORK" "${MODE_ARG[@]}"
cli() { "$MA_BIN" --socket "$MA_SOCK" "$@"; }

# pod_yaml NAME N: a pod of N sleeping busybox containers, each with an
# exec liveness probe (which starts the container's exec server).
pod_yaml() {
	local i
	printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n' "$1"
	for ((i = 1; i <= $2; i++)); do
		printf '  - {name: c%d, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "100000"], livenessProbe: {exec: {command: ["true"]}, periodSeconds: 10}}\n' "$i"
	done
}

# kb FIELD PID: FIELD (Rss, Pss) of smaps_rollup in kB, 0 if gone.
kb() {
	awk -v f="$1:" '$1 == f {print $2; found=1} END {if (!found) print 0}' "/proc/$2/smaps_rollup" 2>/dev/null || echo 0
}

# shims: PIDs of the runc v2 shims of the namespace.
shims() {
	local p
	for p in $(pgrep -f '^[^ ]*containerd-shim-runc-v2 .*-namespace '"$MA_NS"' ' || true); do
		echo "$p"
	done
}

# logprocs: PIDs of the log processes below those shims.
logprocs() {
	local s
	for s in $(shims); do
		pgrep -P "$s" -f miniagent-crilog || true
	done
}

# execservers: PIDs of the exec probe servers below those shims (each
# container's, started by its first exec).
execservers() {
	local s
	for s in $(shims); do
		pgrep -P "$s" -f '^/dev/\.miniagent-exec' || true
	done
}

# want_logprocs N: how many log processes N containers have in this mode.
want_logprocs() {
	if [ "$LOG_MODE" = agent ]; then echo 0; else echo "$1"; fi
}

# sum FIELD PID...: FIELD summed over the PIDs, in kB.
sum() {
	local f=$1 p t=0
	shift
	for p in "$@"; do t=$((t + $(kb "$f" "$p"))); done
	echo "$t"
}

running_tasks() { ma_ctr "$MA_NS" tasks ls 2>/dev/null | awk '$3 == "RUNNING"' | wc -l; }

# measure N: run K pods of N containers, report, delete them.
measure() {
	local n=$1 i t0 agent0 agent1 s l e
	agent0=$(kb Rss "$MA_DAEMON_PID")
	for ((i = 1; i <= K; i++)); do
		pod_yaml "ovh-$n-$i" "$n" | cli apply -f - >/dev/null
	done
	t0=$SECONDS
	until [ "$(running_tasks)" -ge $((K * n)) ] && [ "$(logprocs | wc -l)" -ge "$(want_logprocs $((K * n)))" ] && [ "$(execservers | wc -l)" -ge $((K * n)) ]; do
		[ $((SECONDS - t0)) -lt 180 ] || ma_die "$((K * n)) containers not running after 180 s ($(running_tasks) tasks, $(logprocs | wc -l) log processes, $(execservers | wc -l) exec servers)"
		sleep 1
	done
	sleep 5 # let the agent settle after the starts
	agent1=$(kb Rss "$MA_DAEMON_PID")
	s=$(shims | tr '\n' ' ')
	l=$(logprocs | tr '\n' ' ')
	e=$(execservers | tr '\n' ' ')
	# shellcheck disable=SC2086
	awk -v k="$K" -v n="$n" -v ns="$(wc -w <<<"$s")" -v nl="$(wc -w <<<"$l")" -v ne="$(wc -w <<<"$e")" \
		-v srss="$(sum Rss $s)" -v spss="$(sum Pss $s)" -v lrss="$(sum Rss $l)" -v lpss="$(sum Pss $l)" \
		-v erss="$(sum Rss $e)" -v epss="$(sum Pss $e)" \
		-v agent=$((agent1 - agent0)) 'BEGIN {
		printf "%d pods x %d container(s): %d shims, %d log processes, %d exec servers\n", k, n, ns, nl, ne
		printf "  per pod: shims RSS %6.1f MiB  PSS %6.1f MiB | log processes RSS %5.1f MiB  PSS %5.1f MiB | exec servers RSS %5.2f MiB  PSS %5.2f MiB | agent RSS growth %5.2f MiB\n",
			srss / k / 1024, spss / k / 1024, lrss / k / 1024, lpss / k / 1024, erss / k / 1024, epss / k / 1024, agent / k / 1024
	}'
	for ((i = 1; i <= K; i++)); do
		cli delete pod "ovh-$n-$i" --grace-period 0 --wait=false >/dev/null
	done
	t0=$SECONDS
	while [ -n "$(shims)" ] || [ -n "$(cli get pods -o name 2>/dev/null)" ]; do
		[ $((SECONDS - t0)) -lt 120 ] || ma_die "pods or shims left 120 s after the delete: $(shims | tr '\n' ' ')"
		sleep 1
	done
}

echo "==> --container-log-mode $LOG_MODE; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); agent RSS at start $(($(kb Rss "$MA_DAEMON_PID") / 1024)) MiB"
measure 1
measure 3
