package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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

// clusterNode builds the cluster-mode parts (Node and Lease, events,
// mirror pods), or nil without --kubeconfig.
func clusterNode(f daemonFlags, taints []v1.Taint, a *agent.Agent, log *slog.Logger) (*clusterMode, error) {
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
	// Events get their own client and rate limit, kubelet's --event-qps
	// and --event-burst defaults.
	evCfg := rest.CopyConfig(cfg)
	evCfg.QPS, evCfg.Burst = 50, 100
	evClient, err := kubernetes.NewForConfig(evCfg)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", c.kubeconfig, err)
	}
	m := &clusterMode{log: log}
	m.node, err = cluster.New(cluster.Options{
		Client: client, Local: a, NodeName: a.NodeName(), NodeIP: ip, RegisterNode: c.registerNode,
		Labels: f.nodeLabels, Taints: taints,
		StatusUpdateFrequency: c.statusUpdate, StatusReportFrequency: c.statusReport,
		LeaseDurationSeconds: c.leaseDurationSeconds, Port: c.port, Log: log,
		Events: lazyNodeEvents{m},
	})
	if err != nil {
		return nil, err
	}
	if m.mirrors, err = cluster.NewMirrors(cluster.MirrorOptions{
		Client: client, Local: a, NodeName: a.NodeName(), NodeUID: m.node.UID, Log: log,
	}); err != nil {
		return nil, err
	}
	if m.events, err = cluster.NewEvents(cluster.EventsOptions{
		Client: evClient, Local: a, NodeName: a.NodeName(), Mirrors: m.mirrors, Log: log,
	}); err != nil {
		return nil, err
	}
	return m, nil
}

// clusterMode runs the cluster-mode parts together.
type clusterMode struct {
	node    *cluster.Node
	events  *cluster.Events
	mirrors *cluster.Mirrors
	log     *slog.Logger
}

// lazyNodeEvents hands the Node's events to clusterMode's Events, built
// after the Node.
type lazyNodeEvents struct{ m *clusterMode }

func (l lazyNodeEvents) NodeEvent(eventType, reason, message string) {
	if l.m.events != nil {
		l.m.events.NodeEvent(eventType, reason, message)
	}
}

// Run runs the Node keeper, the event forwarder and the mirror pods until
// ctx ends; the Node's error is returned.
func (m *clusterMode) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := m.events.Run(ctx); err != nil {
			m.log.Error("cluster events stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := m.mirrors.Run(ctx); err != nil {
			m.log.Error("mirror pods stopped", "err", err)
		}
	})
	return m.node.Run(ctx)
}
