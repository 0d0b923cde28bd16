#!/usr/bin/env bash
# test.sh - run every test: set-up, gofmt, go vet, unit tests, end-to-end tests.
# Run as root. Exits non-zero if any step fails (later steps still run, so one
# report shows everything). Environment: see scripts/setup.sh.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH=$PATH:/usr/local/go/bin
export MINIAGENT_CONTAINERD_ADDRESS=${MINIAGENT_CONTAINERD_ADDRESS:-/run/containerd/containerd.sock}

failed=()
started=$SECONDS
section() { printf '\n===== %s =====\n' "$*"; }
run() { # run NAME CMD...: run one step, remember a failure
	local name=$1 t0=$SECONDS rc=0
	shift
	section "$name"
	"$@" || rc=$?
	if [ "$rc" = 0 ]; then
		printf -- '--- %s: ok (%ds)\n' "$name" $((SECONDS - t0))
	else
		printf -- '--- %s: FAILED (exit %d, %ds)\n' "$name" "$rc" $((SECONDS - t0))
		failed+=("$name")
	fi
}

gofmt_check() {
	local bad
	bad=$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l)
	[ -z "$bad" ] || { printf 'not gofmt-clean:\n%s\n' "$bad"; return 1; }
}

# Everything this script builds, the binaries setup.sh builds included, is
# compiled without DWARF: test binaries, race reports and panics read the
# symbol table, not debug info, and a cold compile takes ~15% less CPU.
# (scripts/run.sh's binaries keep theirs.)
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-gcflags=all=-dwarf=false"

# The control plane (kube-apiserver, controller manager, scheduler, kubectl,
# etcd and metrics-server for the cluster-mode e2e tests) builds in the
# background from the start, at the lowest CPU priority: with a cold Go
# build cache it is ~25 CPU-minutes, the largest part of the run, and the
# steps before the cluster tests leave it their idle time (setup's module
# downloads, the e2e tests' waits). With a warm cache it takes seconds. Its
# output is shown at the "control-plane build" step. setsid: its own
# process group, stopped with this script; a new session is also a new
# scheduler autogroup, whose own nice value is what ranks it against this
# script's (the kernel's autogroups, when enabled, make a process's nice
# count only within its group), so that is set to 19 too.
cp_log=$(mktemp /tmp/miniagent-cp-build.XXXXXX)
cp_start=$SECONDS
setsid -w sh -c '{ echo 19 >/proc/self/autogroup; } 2>/dev/null; exec nice -n 19 bash scripts/build-control-plane.sh' \
	>"$cp_log" 2>&1 </dev/null &
cp_pid=$!
bg_pids=("$cp_pid")
trap 'for p in "${bg_pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done' EXIT
cp_wait() {
	local rc=0
	wait "$cp_pid" || rc=$?
	cat "$cp_log"
	printf 'control plane ready %ds after the start (built in the background)\n' $((SECONDS - cp_start))
	return "$rc"
}

section setup
bash scripts/setup.sh || { echo "setup failed: not running the tests"; exit 1; }
printf -- '--- setup: ok (%ds)\n' $((SECONDS - started))

run gofmt gofmt_check
run "go vet" go vet ./...
run staticcheck go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
# -vet=off: the go vet step above ran every analyzer on the same packages.
run "unit tests (race detector)" go test -race -vet=off -count=1 -timeout 8m ./...
# scripts/install.sh into throw-away --root directories, its unit checked by
# systemd-analyze verify (never the host's /usr/local, /etc or services).
run "install script" bash scripts/test-install.sh
# Everything but the tests that need the control-plane build: stock kubectl
# (TestKubeAPIStockKubectl*) runs after it, as do the cluster tests.
run "e2e tests" env MINIAGENT_E2E=1 go test -count=1 -v -timeout 30m -skip '^TestKubeAPIStockKubectl' ./cmd/miniagent/e2e/
run "control-plane build" cp_wait
# The cluster-mode e2e tests (cmd/miniagent/e2e/cluster: a real control
# plane and two agents on loopback) run beside the stock kubectl and fault
# tests; they all mostly wait, and everything they start is their own
# (daemons, containerd namespaces, cgroup roots, ports, the fault tests'
# containerd). MINIAGENT_E2E_CLUSTER=1: a missing control-plane binary
# fails these tests instead of skipping them.
cluster_log=$(mktemp /tmp/miniagent-cluster-e2e.XXXXXX)
cluster_start=$SECONDS
setsid -w bash -c 'env MINIAGENT_E2E=1 MINIAGENT_E2E_CLUSTER=1 go test -count=1 -v -timeout 30m ./cmd/miniagent/e2e/cluster/ >"$1" 2>&1; echo $? >"$1.rc"' \
	_ "$cluster_log" </dev/null &
cluster_pid=$!
bg_pids+=("$cluster_pid")
cluster_wait() {
	wait "$cluster_pid" || true
	cat "$cluster_log"
	printf 'cluster e2e tests: %ds (beside the stock kubectl and fault tests)\n' $((SECONDS - cluster_start))
	return "$(cat "$cluster_log.rc" 2>/dev/null || echo 1)"
}
run "stock kubectl e2e tests" env MINIAGENT_E2E=1 MINIAGENT_E2E_CLUSTER=1 \
	go test -count=1 -v -timeout 15m -run '^TestKubeAPIStockKubectl' ./cmd/miniagent/e2e/
# SIGKILL of the agent during applies, deletes, crash loops and probe kills,
# containerd killed mid-burst: own daemons and namespaces, FAULT_ROUNDS rounds
# with random delays (the seed is logged; MINIAGENT_FAULT_SEED replays it).
run "fault-injection e2e tests" env MINIAGENT_E2E=1 MINIAGENT_FAULT_ROUNDS="${FAULT_ROUNDS:-2}" \
	go test -count=1 -v -timeout 40m -run 'TestFault' ./cmd/miniagent/e2e/
run "cluster e2e tests" cluster_wait

section summary
printf 'total time: %ds\n' $((SECONDS - started))
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "all tests passed"
