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

# bg_start NAME NICE CMD...: runs CMD in the background in a session of its
# own (its own process group, stopped with this script, and its own
# scheduler autogroup: where the kernel has autogroups, a process's nice
# value ranks it only within its group, so the group gets NICE too), its
# output kept for bg_wait NAME, which prints it and returns CMD's status.
declare -A bg_pid bg_log bg_t0
bg_pids=()
trap 'for p in "${bg_pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done' EXIT
bg_start() {
	local name=$1 nice=$2
	shift 2
	bg_log[$name]=$(mktemp /tmp/miniagent-bg.XXXXXX)
	bg_t0[$name]=$SECONDS
	setsid -w sh -c 'n=$1; shift; { echo "$n" >/proc/self/autogroup; } 2>/dev/null; exec nice -n "$n" "$@"' sh "$nice" "$@" \
		>"${bg_log[$name]}" 2>&1 </dev/null &
	bg_pid[$name]=$!
	bg_pids+=("$!")
}
bg_wait() {
	local name=$1 rc=0
	wait "${bg_pid[$name]}" || rc=$?
	cat "${bg_log[$name]}"
	printf '(run in the background: done %ds after its start)\n' $((SECONDS - ${bg_t0[$name]}))
	return "$rc"
}

# The control plane (kube-apiserver, controller manager, scheduler, kubectl,
# etcd and metrics-server for the cluster-mode e2e tests) builds in the
# background from the start, at the lowest CPU priority: with a cold Go
# build cache it is ~50 CPU-minutes, the largest part of the run, and the
# steps before the cluster tests leave it their idle time (setup's module
# downloads, the e2e tests' waits). With a warm cache it takes seconds.
bg_start control-plane 19 bash scripts/build-control-plane.sh

section setup
bash scripts/setup.sh || { echo "setup failed: not running the tests"; exit 1; }
printf -- '--- setup: ok (%ds)\n' $((SECONDS - started))

run gofmt gofmt_check
# The race detector's unit tests; the e2e packages' own tests run in the
# e2e steps below (-vet=off: go vet runs every analyzer, below).
run "unit tests (race detector)" go test -race -vet=off -count=1 -timeout 8m $(go list ./... | grep -v /cmd/miniagent/e2e)
# scripts/install.sh into throw-away --root directories, its unit checked by
# systemd-analyze verify (never the host's /usr/local, /etc or services).
run "install script" bash scripts/test-install.sh
# Everything but the tests that need the control-plane build: stock kubectl
# (TestKubeAPIStockKubectl*) runs after it, as do the cluster tests.
run "e2e tests" env MINIAGENT_E2E=1 go test -count=1 -v -timeout 30m -skip '^TestKubeAPIStockKubectl' ./cmd/miniagent/e2e/
run "control-plane build" bg_wait control-plane
# The cluster-mode e2e tests (cmd/miniagent/e2e/cluster: a real control
# plane and two agents on loopback) run beside the stock kubectl and fault
# tests; they all mostly wait, and everything they start is their own
# (daemons, containerd namespaces, cgroup roots, ports, the fault tests'
# containerd). MINIAGENT_E2E_CLUSTER=1: a missing control-plane binary
# fails these tests instead of skipping them. go vet and staticcheck, which
# only need CPU, take what these tests leave, at the lowest priority.
bg_start cluster 0 env MINIAGENT_E2E=1 MINIAGENT_E2E_CLUSTER=1 go test -count=1 -v -timeout 30m ./cmd/miniagent/e2e/cluster/
bg_start vet 19 go vet ./...
bg_start staticcheck 19 go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
run "stock kubectl e2e tests" env MINIAGENT_E2E=1 MINIAGENT_E2E_CLUSTER=1 \
	go test -count=1 -v -timeout 15m -run '^TestKubeAPIStockKubectl' ./cmd/miniagent/e2e/
# SIGKILL of the agent during applies, deletes, crash loops and probe kills,
# containerd killed mid-burst: own daemons and namespaces, FAULT_ROUNDS rounds
# with random delays (the seed is logged; MINIAGENT_FAULT_SEED replays it).
run "fault-injection e2e tests" env MINIAGENT_E2E=1 MINIAGENT_FAULT_ROUNDS="${FAULT_ROUNDS:-2}" \
	go test -count=1 -v -timeout 40m -run 'TestFault' ./cmd/miniagent/e2e/
run "cluster e2e tests" bg_wait cluster
run "go vet" bg_wait vet
run staticcheck bg_wait staticcheck

section summary
printf 'total time: %ds\n' $((SECONDS - started))
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "all tests passed"
