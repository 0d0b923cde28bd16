// Command miniagent is a small kubelet-like node agent: `miniagent daemon`
// runs pods from Kubernetes pod YAML through containerd; every other verb
// (apply, get, describe, logs, delete, ...) is a client of the daemon's
// local API. main only wires packages together.
package main

import (
	"os"

	"github.com/miniagent/miniagent/agent/cli"
	"github.com/miniagent/miniagent/runtime/crilog"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	switch verb(args) {
	case "daemon":
		return runDaemon(args)
	case "image":
		// import talks to containerd itself (it works without a daemon);
		// pull, ls and rm go through the daemon.
		if isImport(args) {
			return runImage(args)
		}
	case "kubeconfig":
		return runKubeconfig(args)
	case "crilog-shim":
		return crilog.ShimMain(args[1:])
	}
	return cli.Main(args, os.Stdin, os.Stdout, os.Stderr)
}

// isImport tells whether the word after "image" is "import".
func isImport(args []string) bool {
	for i, a := range args {
		if a == "image" {
			return i+1 < len(args) && args[i+1] == "import"
		}
	}
	return false
}

// verb is the first argument that is not a flag (skipping the value of
// the global --socket flag).
func verb(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--socket" || a == "-s" {
			i++
			continue
		}
		if len(a) > 0 && a[0] == '-' {
			continue
		}
		return a
	}
	return ""
}
