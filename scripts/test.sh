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

section setup
bash scripts/setup.sh || { echo "setup failed: not running the tests"; exit 1; }

run gofmt gofmt_check
run "go vet" go vet ./...
run staticcheck go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
run "unit tests (race detector)" go test -race -count=1 -timeout 8m ./...
# scripts/install.sh into throw-away --root directories, its unit checked by
# systemd-analyze verify (never the host's /usr/local, /etc or services).
run "install script" bash scripts/test-install.sh
# kube-apiserver, controller manager, scheduler, kubectl, etcd and
# metrics-server for the cluster-mode e2e tests (cmd/miniagent/e2e/cluster,
# skipped without them): ~44 CPU-minutes with a cold Go build cache (~14 of
# them metrics-server's), seconds with a warm one.
run "control-plane build" bash scripts/build-control-plane.sh
run "e2e tests" env MINIAGENT_E2E=1 MINIAGENT_E2E_CLUSTER=1 go test -count=1 -v -timeout 30m ./cmd/miniagent/e2e/...
# SIGKILL of the agent during applies, deletes, crash loops and probe kills,
# containerd killed mid-burst: own daemons and namespaces, FAULT_ROUNDS rounds
# with random delays (the seed is logged; MINIAGENT_FAULT_SEED replays it).
run "fault-injection e2e tests" env MINIAGENT_E2E=1 MINIAGENT_FAULT_ROUNDS="${FAULT_ROUNDS:-2}" \
	go test -count=1 -v -timeout 40m -run 'TestFault' ./cmd/miniagent/e2e/

section summary
printf 'total time: %ds\n' $((SECONDS - started))
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "all tests passed"
