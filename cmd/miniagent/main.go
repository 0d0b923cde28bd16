// Command miniagent is a small kubelet-like node agent. Every verb but
// `daemon` (apply, get, describe, logs, delete, exec, ...) is a client of the
// daemon's local API, served by this binary. `miniagent daemon`, `miniagent
// image import`, `miniagent kubeconfig` and `miniagent crilog-shim` exec
// miniagent-daemon, found next
// to this binary, with the same arguments (the process, its PID included,
// stays the same): the client so links none of the daemon's packages and
// starts in a few milliseconds. main only wires packages together.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/miniagent/miniagent/agent/cli"
)

// daemonBinary is the daemon's program, installed next to this one.
const daemonBinary = "miniagent-daemon"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if isDaemonVerb(args) {
		return execDaemon(args)
	}
	return cli.Main(args, os.Stdin, os.Stdout, os.Stderr)
}

// execDaemon replaces this process with miniagent-daemon ARGS; it returns
// only when that fails.
func execDaemon(args []string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: miniagent %s: find this binary: %v\n", args[0], err)
		return 1
	}
	path := filepath.Join(filepath.Dir(self), daemonBinary)
	err = syscall.Exec(path, append([]string{path}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "error: miniagent %s runs %s: %v (build it next to %s: go build -o %s ./cmd/%s, or install both with scripts/install.sh)\n",
		args[0], path, err, self, path, daemonBinary)
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
