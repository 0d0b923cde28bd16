package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/miniagent/miniagent/agent"
	"github.com/miniagent/miniagent/agent/kubeapi"
)

func addKubeAPIFlags(fs *pflag.FlagSet, addr *string) {
	fs.StringVar(addr, "kubernetes-api-address", "", "host:port to serve the Kubernetes API on for stock kubectl (TLS, bearer token; default off; see `miniagent kubeconfig`)")
}

// checkKubeAPIAddress refuses an address that is not host:port.
func checkKubeAPIAddress(addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--kubernetes-api-address %q: %w", addr, err)
	}
	return nil
}

func kubeAPIDir(rootDir string) string { return filepath.Join(rootDir, "kubeapi") }

// serveKubeAPI serves the Kubernetes API at addr until ctx ends; nothing
// without an address.
func serveKubeAPI(ctx context.Context, addr, rootDir string, a *agent.Agent, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	host, _, _ := net.SplitHostPort(addr)
	dir := kubeAPIDir(rootDir)
	creds, err := kubeapi.EnsureCredentials(dir, host)
	if err != nil {
		return err
	}
	srv, err := kubeapi.New(kubeapi.Options{Backend: a, Token: creds.Token, Log: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("kubernetes API: %w", err)
	}
	if err := kubeapi.WriteServerURL(dir, kubeapi.ServerURL(ln.Addr().String())); err != nil {
		ln.Close()
		return err
	}
	return srv.ServeListener(ctx, ln, creds.Cert)
}

// runKubeconfig is `miniagent kubeconfig`: it prints a kubeconfig for the
// daemon's Kubernetes API.
func runKubeconfig(args []string) int {
	fs := pflag.NewFlagSet("miniagent kubeconfig", pflag.ContinueOnError)
	rootDir := fs.String("root-dir", "/var/lib/miniagent", "the daemon's --root-dir")
	server := fs.String("server", "", "API server URL (default: the address the daemon serves)")
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "error: kubeconfig takes no arguments, got %q\n", fs.Args())
		return 2
	}
	data, err := kubeapi.Kubeconfig(kubeAPIDir(*rootDir), *server)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	_, _ = os.Stdout.Write(data)
	return 0
}
