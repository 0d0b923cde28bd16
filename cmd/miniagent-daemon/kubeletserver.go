package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/agent"
	"github.com/miniagent/miniagent/agent/kubeletserver"
	"github.com/miniagent/miniagent/agent/metrics"
)

// kubeletServerFlags are kubelet's flags of its HTTPS server.
type kubeletServerFlags struct {
	tlsCertFile, tlsKeyFile, clientCAFile string
}

// kubeletServerFlagNames are the flags only used with --kubeconfig.
var kubeletServerFlagNames = []string{"tls-cert-file", "tls-private-key-file", "client-ca-file"}

func addKubeletServerFlags(fs *pflag.FlagSet, k *kubeletServerFlags) {
	fs.StringVar(&k.tlsCertFile, "tls-cert-file", "", "serving certificate of the kubelet server on --port (default: a self-signed one in <root-dir>/pki/kubelet.crt)")
	fs.StringVar(&k.tlsKeyFile, "tls-private-key-file", "", "private key of --tls-cert-file")
	fs.StringVar(&k.clientCAFile, "client-ca-file", "", "CA bundle verifying the kubelet server's client certificates (the apiserver's --kubelet-client-certificate); without it only bearer tokens (TokenReview) are accepted")
}

// kubeletServer builds the kubelet server of cluster mode with cluster
// mode's client and node IP, or nil without --kubeconfig (cm nil). It
// listens on --node-ip when given, else on all addresses (kubelet's
// --address 0.0.0.0).
func kubeletServer(ctx context.Context, f daemonFlags, cm *clusterMode, a *agent.Agent, m *metrics.Metrics, log *slog.Logger) (*kubeletserver.Server, error) {
	if cm == nil {
		return nil, nil
	}
	c := f.cluster
	ip, client := cm.ip, cm.client
	// The self-signed certificate covers the Node's InternalIP (--node-ip,
	// else the agent's address), its name and the host name.
	certIPs := []net.IP{}
	if ip != nil {
		certIPs = append(certIPs, ip)
	} else if node, err := a.Node(ctx); err == nil {
		for _, ad := range node.Status.Addresses {
			if p := net.ParseIP(ad.Address); ad.Type == v1.NodeInternalIP && p != nil {
				certIPs = append(certIPs, p)
			}
		}
	}
	names := []string{a.NodeName()}
	if h, err := os.Hostname(); err == nil && h != a.NodeName() {
		names = append(names, h)
	}
	return kubeletserver.New(kubeletserver.Options{
		Backend: a, Metrics: m.Handler(), NodeName: a.NodeName(), Address: ip, Port: c.port,
		TLS: kubeletserver.TLSFiles{
			CertFile: c.server.tlsCertFile, KeyFile: c.server.tlsKeyFile, ClientCAFile: c.server.clientCAFile,
			CertDir: filepath.Join(f.rootDir, "pki"),
		},
		CertIPs: certIPs, CertNames: names, Client: client, Log: log,
	})
}
