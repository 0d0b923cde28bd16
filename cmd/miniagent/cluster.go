package main

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/miniagent/miniagent/agent"
	"github.com/miniagent/miniagent/agent/apivolume"
	"github.com/miniagent/miniagent/agent/cluster"
	"github.com/miniagent/miniagent/agent/envvar"
)

// clusterFlags are kubelet's flags of the cluster mode.
type clusterFlags struct {
	kubeconfig, nodeIP         string
	registerNode               bool
	statusUpdate, statusReport time.Duration
	leaseDurationSeconds, port int32
	server                     kubeletServerFlags
}

func addClusterFlags(fs *pflag.FlagSet, c *clusterFlags) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig of a Kubernetes apiserver: join it as a Node (cluster mode; default: standalone)")
	fs.StringVar(&c.nodeIP, "node-ip", "", "the Node's InternalIP address (default: the host's first global address)")
	fs.BoolVar(&c.registerNode, "register-node", true, "create the Node in the apiserver if it does not exist")
	fs.DurationVar(&c.statusUpdate, "node-status-update-frequency", cluster.DefaultStatusUpdateFrequency, "how often the Node's status is recomputed (and patched if it changed)")
	fs.DurationVar(&c.statusReport, "node-status-report-frequency", cluster.DefaultStatusReportFrequency, "how often the Node's status is patched when it did not change")
	fs.Int32Var(&c.leaseDurationSeconds, "node-lease-duration-seconds", cluster.DefaultLeaseDurationSeconds, "duration of the node Lease in kube-node-lease, renewed every quarter of it")
	fs.Int32Var(&c.port, "port", cluster.DefaultPort, "port of the kubelet server (HTTPS: logs, exec, attach, port-forward, stats, metrics), advertised in the Node's daemonEndpoints")
	addKubeletServerFlags(fs, &c.server)
}

// checkClusterFlags refuses cluster-mode flags without --kubeconfig.
func checkClusterFlags(fs *pflag.FlagSet, f daemonFlags) error {
	if f.cluster.kubeconfig != "" {
		return cluster.ValidateNodeLabels(f.nodeLabels)
	}
	for _, name := range append([]string{"node-ip", "register-node", "node-status-update-frequency", "node-status-report-frequency", "node-lease-duration-seconds", "port"}, kubeletServerFlagNames...) {
		if fs.Changed(name) {
			return fmt.Errorf("--%s: only used with --kubeconfig", name)
		}
	}
	return nil
}

// clusterMode is what --kubeconfig adds to the daemon.
type clusterMode struct {
	client kubernetes.Interface
	ip     net.IP // --node-ip (nil: the agent's)
	pods   *cluster.Pods
}

// newClusterMode builds the API server client and the pod source and
// status manager of cluster mode, or returns nil without --kubeconfig.
func newClusterMode(f daemonFlags, log *slog.Logger) (*clusterMode, error) {
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
	return &clusterMode{client: client, ip: ip}, nil
}

// withAgentOptions connects the agent to cluster mode: the node's IP and
// the status manager listening to the pod workers.
func (cm *clusterMode) withAgentOptions(o agent.Options, log *slog.Logger) agent.Options {
	if cm == nil {
		return o
	}
	if cm.ip != nil {
		o.Node.IP = cm.ip.String()
	}
	cm.pods = cluster.NewPods(cluster.PodsOptions{Client: cm.client, NodeName: o.Node.Name, Log: log})
	o.OnPodStatus = cm.pods.PodStatus
	o.APIVolumes = apivolume.NewManager(apivolume.Options{
		Client: cm.client, Clock: o.Clock, Log: log,
		Env: apivolume.Env{HostIP: o.Node.IP, NodeAllocatable: envvar.HostAllocatable()},
	})
	return o
}

// node builds the cluster-mode Node keeper, or nil without --kubeconfig.
func (cm *clusterMode) node(f daemonFlags, taints []v1.Taint, a *agent.Agent, log *slog.Logger) (*cluster.Node, error) {
	if cm == nil {
		return nil, nil
	}
	c := f.cluster
	return cluster.New(cluster.Options{
		Client: cm.client, Local: a, NodeName: a.NodeName(), NodeIP: cm.ip, RegisterNode: c.registerNode,
		Labels: f.nodeLabels, Taints: taints,
		StatusUpdateFrequency: c.statusUpdate, StatusReportFrequency: c.statusReport,
		LeaseDurationSeconds: c.leaseDurationSeconds, Port: c.port, Log: log,
	})
}
