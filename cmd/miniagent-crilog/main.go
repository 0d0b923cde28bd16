// Command miniagent-crilog is the log process containerd's shim starts for
// every container miniagent runs: it writes the container's stdout and
// stderr to its CRI log file. It does what `miniagent crilog-shim` does, as
// a small binary that starts in about a millisecond instead of eight; the
// daemon uses it when it lies next to the miniagent binary.
package main

import (
	"os"

	"github.com/miniagent/miniagent/runtime/crilog"
)

func main() {
	os.Exit(crilog.ShimMain(os.Args[1:]))
}
