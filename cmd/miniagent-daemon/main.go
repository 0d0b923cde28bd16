// Command miniagent-daemon is the node agent: `miniagent daemon` runs pods
// from Kubernetes pod YAML through containerd. Users type `miniagent daemon
// ...`; the miniagent client execs this binary in its place (same process,
// same arguments), as it does for `image import` (straight into containerd)
// and `crilog-shim` (the log process fallback). It is a binary of its own so
// that the client verbs link none of the daemon's packages (containerd,
// client-go's clientsets, prometheus, the streaming server) and start in a
// few milliseconds. main only wires packages together.
package main

import (
	"fmt"
	"os"

	"github.com/miniagent/miniagent/runtime/crilog"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "daemon":
			return runDaemon(args)
		case "image":
			if len(args) > 1 && args[1] == "import" {
				return runImage(args)
			}
		case "kubeconfig":
			return runKubeconfig(args)
		case "crilog-shim":
			return crilog.ShimMain(args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "miniagent-daemon: want `daemon`, `image import`, `kubeconfig` or `crilog-shim` as the first argument, got %q; the client verbs are miniagent's (miniagent --help)\n", args)
	return 2
}
