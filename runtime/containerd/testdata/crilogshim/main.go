// Command crilogshim is a test stand-in for `miniagent crilog-shim`: the log
// process containerd's runc shim starts, run as `crilogshim crilog-shim PATH`.
package main

import (
	"os"

	"github.com/miniagent/miniagent/runtime/crilog"
)

func main() {
	os.Exit(crilog.ShimMain(os.Args[2:]))
}
