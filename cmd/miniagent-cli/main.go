// Command miniagent-cli is the full client: every verb of `miniagent` but
// the daemon's and the quick `get pods` (see cmd/miniagent, which execs
// this binary, installed next to it, with the same arguments). main only
// wires packages together.
package main

import (
	"os"

	"github.com/miniagent/miniagent/agent/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
