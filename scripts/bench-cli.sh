#!/usr/bin/env bash
# bench-cli.sh - whole-command benchmark, as a user types the commands:
#
#   1. start a one-container busybox pod and wait until it runs, 30 rounds
#      each, interleaved (scripts/benchcli):
#        miniagent   `miniagent apply -f pod.yaml && miniagent wait --for=condition=Ready pod/bench-cli`
#                    (--timeout=5m: a busy shared machine may need more than the default 30 s)
#        podman      `podman kube play --network none pod.yaml` (the same file)
#        ctr         `ctr run -d` of the same image (no pod, no log, no wait)
#      each followed, untimed, by its removal (delete --grace-period 0 --wait,
#      podman pod rm -f -t 0, ctr tasks rm -f + containers rm);
#   2. the CLI's own latency on a node with 10 pods: `miniagent get pods`
#      (answered by the entry point), the same through miniagent-cli alone,
#      `get pods -o name` (entry point + full client), `miniagent --help`,
#      and /bin/true as the floor.
#
# Environment:
#   BENCH_RUNS=30             timed runs of each case (one more warm-up run each)
#   BENCH_SETTLE=5s           before each run, wait up to this long until the host
#                             is quiet (a 200 ms window under 10 % CPU): work a
#                             clean-up leaves running (snapshot GC, podman's
#                             conmon and `container cleanup`) must not land in the
#                             next case's time; 0 does not wait
#   BENCH_NAMESPACE=miniagent-bench-cli  containerd namespace and cgroup root of
#                             the daemon (ctr uses NAMESPACE-ctr)
#   BENCH_COMPARE_BIN=PATH    also time this miniagent binary's get pods and --help
#                             (e.g. an older build) against the daemon
#   BENCH_RT=1                run part 2 under SCHED_FIFO (chrt -f 50): steadier
#                             numbers on a shared machine (the daemon keeps its
#                             normal priority)
#   BENCH_SKIP_SETUP=1        do not run scripts/setup.sh (bin/miniagent,
#                             bin/miniagent-cli, bin/miniagent-daemon must exist)
#   MINIAGENT_CONTAINERD_ADDRESS  containerd socket (default /run/containerd/containerd.sock)
#
# podman and catatonit come from Debian's packages (installed if missing,
# unless MINIAGENT_SKIP_APT=1). podman runs with its own storage, run and
# tmp directories under the work directory, cgroupfs and file events (no
# systemd here), and the busybox image loaded from bin/busybox-image.tar. Where
# root lacks CAP_SYS_RESOURCE, podman 4.3 asks runc for RLIMIT_NOFILE and
# RLIMIT_NPROC above the hard limits and every start fails; then runc is
# called through a small wrapper that removes those two rlimits from the
# bundle's config.json (one sh and one sed more per runc call, counted in
# podman's time).
#
# Everything it creates is its own and is removed at the end: the daemon and
# its pods, the containerd namespaces with their containers, snapshots and
# images, podman's pods and storage, the cgroups, the work directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUNS=${BENCH_RUNS:-30}
SETTLE=${BENCH_SETTLE:-5s}
MA_NS=${BENCH_NAMESPACE:-miniagent-bench-cli}
MA_CGROUP_ROOT=$MA_NS
CTR_NS=$MA_NS-ctr
IMAGE=docker.io/library/busybox:latest

ma_require_root
ma_setup "${BENCH_SKIP_SETUP:-}" --need-bin
if ! command -v podman >/dev/null || ! command -v catatonit >/dev/null; then
	[ "${MINIAGENT_SKIP_APT:-}" = 1 ] && ma_die "podman and catatonit are needed (apt-get install podman catatonit)"
	echo "==> apt-get install podman catatonit"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman catatonit >/dev/null
fi

ma_make_workdir miniagent-bench-cli
WORK=$MA_WORK
# ctr's default cgroupsPath is /<namespace>/<id>: hence $CTR_NS.
ma_on_exit ma_clean_cgroups "$MA_CGROUP_ROOT" "$CTR_NS"
ma_on_exit ma_clean_namespace "$MA_NS" "$CTR_NS"
ma_on_exit ma_tail_log_on_failure

echo "==> build scripts/benchcli"
(cd "$MA_REPO" && go build -o "$WORK/benchcli" ./scripts/benchcli)

echo "==> busybox image into $MA_NS and $CTR_NS"
ma_import_image "$MA_REPO/bin/busybox-image.tar" "$MA_NS" "$CTR_NS"

echo "==> daemon (namespace $MA_NS, cgroup root $MA_CGROUP_ROOT, files under $WORK)"
ma_start_daemon "$WORK/agent.sock" "$WORK/agent.log" "$WORK" --node-name "$MA_NS-node"

# --- podman, on storage of its own ----------------------------------------------
mkdir -p "$WORK/podman/root" "$WORK/podman/run" "$WORK/podman/tmp"
cat >"$WORK/containers.conf" <<EOF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$WORK/podman/tmp"
EOF
export CONTAINERS_CONF=$WORK/containers.conf
PODMAN=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --log-level error)
capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
if (((0x$capeff >> 24 & 1) == 0)); then # CAP_SYS_RESOURCE is bit 24
	cat >"$WORK/runc-wrap" <<EOF
#!/bin/sh
# runc without podman's RLIMIT_NOFILE and RLIMIT_NPROC (above this root's hard limits).
prev=
for a; do
	case \$prev in --bundle | -b) b=\$a ;; esac
	prev=\$a
done
if [ -n "\$b" ] && [ -f "\$b/config.json" ]; then
	sed -i -e 's/{"type":"RLIMIT_NOFILE","hard":[0-9]*,"soft":[0-9]*},\{0,1\}//' \\
		-e 's/{"type":"RLIMIT_NPROC","hard":[0-9]*,"soft":[0-9]*},\{0,1\}//' -e 's/,\]/]/' "\$b/config.json"
fi
exec $(command -v runc) "\$@"
EOF
	chmod 0755 "$WORK/runc-wrap"
	PODMAN+=(--runtime "$WORK/runc-wrap")
	echo "==> podman: no CAP_SYS_RESOURCE, runc through $WORK/runc-wrap (drops podman's nofile/nproc rlimits)"
fi
ma_on_exit ma_clean_cgroups libpod_parent # only if empty: rmdir
ma_on_exit "${PODMAN[@]}" pod rm -a -f -t 0
echo "==> busybox image into podman (podman $(podman --version | awk '{print $3}'))"
"${PODMAN[@]}" load -q -i "$MA_REPO/bin/busybox-image.tar" >/dev/null

POD=$WORK/pod.yaml
cat >"$POD" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: bench-cli
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox
    imagePullPolicy: Never
    command: ["sleep", "3600"]
EOF

MA=("$MA_BIN" --socket "$MA_SOCK")
CTR=(ctr --address "$MA_ADDR" -n "$CTR_NS")
echo
echo "==> 1. start a pod and wait until it runs: $RUNS rounds, interleaved"
"$WORK/benchcli" --runs "$RUNS" --settle "$SETTLE" --baseline miniagent \
	--case "miniagent=${MA[*]} apply -f $POD && ${MA[*]} wait --for=condition=Ready pod/bench-cli --timeout=5m" \
	--cleanup "miniagent=${MA[*]} delete pod bench-cli --grace-period 0 --wait=true" \
	--case "podman=${PODMAN[*]} kube play --network none $POD" \
	--cleanup "podman=${PODMAN[*]} pod rm -f -t 0 bench-cli" \
	--case "ctr=${CTR[*]} run -d $IMAGE bench-cli-{i} sleep 3600" \
	--cleanup "ctr=${CTR[*]} tasks rm -f bench-cli-{i} && ${CTR[*]} containers rm bench-cli-{i}"
echo "(goals: podman's median ≥ 2.5 × miniagent's; miniagent's ≤ 1.2 × ctr's, i.e. ctr's column ≥ 0.83)"

echo
echo "==> 2. the CLI's latency, 10 pods on the node"
for i in $(seq 1 10); do
	cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: idle-$i
  labels: {bench: idle}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox
    imagePullPolicy: Never
    command: ["sleep", "3600"]
EOF
done >"$WORK/idle.yaml"
"${MA[@]}" apply -f "$WORK/idle.yaml" >/dev/null
"${MA[@]}" wait --for=condition=Ready -l bench=idle --timeout 120s >/dev/null
# get-pods is answered by the entry point itself (agent/cli/fastget);
# get-pods-cli is the full client alone, get-pods-name the entry point
# exec'ing the full client (every other verb's path), true the floor.
cases=(--case "get-pods=${MA[*]} get pods" --case "get-pods-cli=$MA_BIN-cli --socket $MA_SOCK get pods"
	--case "get-pods-name=${MA[*]} get pods -o name" --case "help=$MA_BIN --help" --case "true=/bin/true")
if [ -n "${BENCH_COMPARE_BIN:-}" ]; then
	cases+=(--case "compare-get-pods=$BENCH_COMPARE_BIN --socket $MA_SOCK get pods" --case "compare-help=$BENCH_COMPARE_BIN --help")
fi
rt=()
if [ "${BENCH_RT:-}" = 1 ]; then
	rt=(chrt -f 50)
	echo "(SCHED_FIFO: chrt -f 50)"
fi
"${rt[@]}" "$WORK/benchcli" --runs "$RUNS" --settle "$SETTLE" "${cases[@]}"
echo "(goal: get pods ≤ 15 ms; binaries: $(stat -c %s "$MA_BIN") bytes miniagent, $(stat -c %s "$MA_BIN-cli") bytes miniagent-cli, $(stat -c %s "$MA_BIN-daemon") bytes miniagent-daemon)"
