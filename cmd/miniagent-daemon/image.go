package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/miniagent/miniagent/runtime/containerd"
)

// runImage handles `miniagent image import FILE.tar`: it talks to
// containerd directly, so it works before the daemon runs.
func runImage(args []string) int {
	fs := pflag.NewFlagSet("miniagent image", pflag.ContinueOnError)
	addr := fs.String("containerd-address", "/run/containerd/containerd.sock", "containerd socket")
	ns := fs.String("containerd-namespace", "miniagent", "containerd namespace")
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	}
	rest := fs.Args()
	if len(rest) != 2 || rest[0] != "import" {
		fmt.Fprintln(os.Stderr, "usage: miniagent image import FILE.tar [--containerd-address PATH] [--containerd-namespace NS]")
		return 2
	}
	f, err := os.Open(rest[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	defer f.Close()
	ctx := context.Background()
	rt, err := containerd.New(ctx, containerd.Options{Address: *addr, Namespace: *ns})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	defer rt.Close()
	imgs, err := rt.ImportImage(ctx, f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: import %s: %v\n", rest[1], err)
		return 1
	}
	for _, img := range imgs {
		fmt.Printf("imported %s (%s)\n", img.Ref, img.ID)
	}
	return 0
}
