package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/miniagent/miniagent/agent"
	"github.com/miniagent/miniagent/agent/cluster"
)

// clusterFlags are kubelet's flags of the cluster mode.
type clusterFlags struct {
	kubeconfig, nodeIP         string
	registerNode               bool
	statusUpdate, statusReport time.Duration
	leaseDurationSeconds, port int32
}

func addClusterFlags(fs *pflag.FlagSet, c *clusterFlags) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig of a Kubernetes apiserver: join it as a Node (cluster mode; default: standalone)")
	fs.StringVar(&c.nodeIP, "node-ip", "", "the Node's InternalIP address (default: the host's first global address)")
	fs.BoolVar(&c.registerNode, "register-node", true, "create the Node in the apiserver if it does not exist")
	fs.DurationVar(&c.statusUpdate, "node-status-update-frequency", cluster.DefaultStatusUpdateFrequency, "how often the Node's status is recomputed (and patched if it changed)")
	fs.DurationVar(&c.statusReport, "node-status-report-frequency", cluster.DefaultStatusReportFrequency, "how often the Node's status is patched when it did not change")
	fs.Int32Var(&c.leaseDurationSeconds, "node-lease-duration-seconds", cluster.DefaultLeaseDurationSeconds, "duration of the node Lease in kube-node-lease, renewed every quarter of it")
	fs.Int32Var(&c.port, "port", cluster.DefaultPort, "kubelet port advertised in the Node's daemonEndpoints (the kubelet server itself is not served yet)")
}

// checkClusterFlags refuses cluster-mode flags without --kubeconfig.
func checkClusterFlags(fs *pflag.FlagSet, f daemonFlags) error {
	if f.cluster.kubeconfig != "" {
		return cluster.ValidateNodeLabels(f.nodeLabels)
	}
	for _, name := range []string{"node-ip", "register-node", "node-status-update-frequency", "node-status-report-frequency", "node-lease-duration-seconds", "port"} {
		if fs.Changed(name) {
			return fmt.Errorf("--%s: only used with --kubeconfig", name)
		}
	}
	return nil
}

// clusterNode builds the cluster-mode Node keeper, or nil without --kubeconfig.
func clusterNode(f daemonFlags, taints []v1.Taint, a *agent.Agent, log *slog.Logger) (*cluster.Node, error) {
	c := f.cluster
	if c.kubeconfig == "" {
		return nil, nil
	}
	ip, err := cluster.ParseNodeIP(c.nodeIP)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", c.kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", c.kubeconfig, err)
	}
	return cluster.New(cluster.Options{
		Client: client, Local: a, NodeName: a.NodeName(), NodeIP: ip, RegisterNode: c.registerNode,
		Labels: f.nodeLabels, Taints: taints,
		StatusUpdateFrequency: c.statusUpdate, StatusReportFrequency: c.statusReport,
		LeaseDurationSeconds: c.leaseDurationSeconds, Port: c.port, Log: log,
	})
}
