// Package e2e holds miniagent's end-to-end tests. They build the miniagent
// binary, import the busybox image into the containerd namespace
// miniagent-e2e, start `miniagent daemon` with temporary directories and the
// cgroup root miniagent-e2e, and check through the CLI what a user sees:
// phases, conditions, restart counts and back-off, init container order,
// logs, static pods, agent restarts, rejected manifests, and that a deleted
// pod leaves nothing behind in containerd, the cgroup tree or the mount table.
//
// Throughout the run a checker follows the daemon's pod watch and checks
// every status it shows, and every status a test fetches, against kubelet's
// rules (statuscheck_test.go): a test fails with what its pods broke, the
// run with what broke outside any test.
//
// The tests need root and a running containerd; they are skipped unless
// MINIAGENT_E2E=1. MINIAGENT_CONTAINERD_ADDRESS selects the containerd socket
// (default /run/containerd/containerd.sock). The daemon's log is kept at
// $TMPDIR/<namespace>-daemon.log after the run.
//
// A run holds the flock /run/<namespace>.lock. MINIAGENT_E2E_NAMESPACE
// (default miniagent-e2e), MINIAGENT_E2E_CGROUP_ROOT (default the namespace)
// and MINIAGENT_E2E_NODE_NAME (default <namespace>-node) let two runs share
// a host: give each its own namespace.
//
//	sudo MINIAGENT_E2E=1 go test -count=1 -v ./cmd/miniagent/e2e/...
//
// The fault-injection tests (TestFault...) SIGKILL the daemon, or a private
// containerd, at random moments of applies, deletes, a crash loop and a
// liveness kill, and then check what the user was promised and that
// nothing is left behind (listLeftovers). Each round starts a daemon of its
// own, with its own containerd namespace and cgroup root
// (miniagent-fault-<pid>-<n>), so they neither disturb nor wait for the
// shared daemon; when -run selects only them, the shared harness and its
// host-wide lock are skipped. They take minutes and run only when named by
// -run or with MINIAGENT_E2E_FAULT=1; MINIAGENT_FAULT_ROUNDS (default 3)
// and MINIAGENT_FAULT_SEED set the rounds and the random delays. Three
// rounds of all of them take about 20 minutes, more than go test's default
// -timeout:
//
//	sudo MINIAGENT_E2E=1 go test -count=1 -v -timeout 60m -run TestFault ./cmd/miniagent/e2e/
package e2e
