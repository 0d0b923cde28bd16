// Command miniagent is the entry point of every verb. It links the
// standard library and agent/cli/fast only, so it starts in about a
// millisecond: it answers `get pods` in the table formats, `apply -f` of
// one pod and `wait --for=condition` of one pod itself (agent/cli/fast),
// and execs the program that does the rest, found next to this binary,
// with the same arguments (the process, its PID included, stays the
// same): miniagent-daemon for `daemon`, `image import`, `kubeconfig` and
// `crilog-shim`; miniagent-cli, the full client, for every other verb.
// main only wires packages together.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/miniagent/miniagent/agent/cli/fast"
)

// daemonBinary is the daemon's program and cliBinary the full client's,
// installed next to this one.
const (
	daemonBinary = "miniagent-daemon"
	cliBinary    = "miniagent-cli"
)

// defaultSocket is the daemon's socket unless --socket or MINIAGENT_SOCKET
// say otherwise (cli.DefaultSocket; the test checks they agree).
const defaultSocket = "/run/miniagent/miniagent.sock"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if isDaemonVerb(args) {
		return execNext(daemonBinary, args)
	}
	socket := defaultSocket
	if s := os.Getenv("MINIAGENT_SOCKET"); s != "" {
		socket = s
	}
	if rc, ok := fast.Run(context.Background(), args, socket, os.Stdout, os.Stderr); ok {
		return rc
	}
	return execNext(cliBinary, args)
}

// execNext replaces this process with the program name (next to this
// binary) and args; it returns only when that fails.
func execNext(name string, args []string) int {
	verb := "(no verb)"
	if len(args) > 0 {
		verb = args[0]
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: miniagent %s: find this binary: %v\n", verb, err)
		return 1
	}
	path := filepath.Join(filepath.Dir(self), name)
	err = syscall.Exec(path, append([]string{path}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "error: miniagent %s runs %s: %v (build it next to %s: go build -o %s ./cmd/%s, or install them all with scripts/install.sh)\n",
		verb, path, err, self, path, name)
	return 1
}

// isDaemonVerb tells whether args are one of the daemon binary's verbs:
// daemon, image import, kubeconfig, crilog-shim (always the first
// arguments).
func isDaemonVerb(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "daemon", "kubeconfig", "crilog-shim":
		return true
	case "image":
		return len(args) > 1 && args[1] == "import"
	}
	return false
}
