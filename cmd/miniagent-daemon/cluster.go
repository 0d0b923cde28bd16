package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
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

// clusterMode is what --kubeconfig adds to the daemon: the pod source and
// status manager (pods), the Node and its Lease, events and mirror pods.
type clusterMode struct {
	client, events kubernetes.Interface // events: its own rate limit
	ip             net.IP               // --node-ip (nil: the agent's)
	log            *slog.Logger

	pods    *cluster.Pods
	node    *cluster.Node
	ev      *cluster.Events
	mirrors *cluster.Mirrors
}

// newClusterMode builds the API server clients of cluster mode, or returns
// nil without --kubeconfig.
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
	// Events get their own client and rate limit, kubelet's --event-qps
	// and --event-burst defaults.
	evCfg := rest.CopyConfig(cfg)
	evCfg.QPS, evCfg.Burst = 50, 100
	evClient, err := kubernetes.NewForConfig(evCfg)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", c.kubeconfig, err)
	}
	return &clusterMode{client: client, events: evClient, ip: ip, log: log}, nil
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
	o.Node.Cluster = true
	cm.pods = cluster.NewPods(cluster.PodsOptions{Client: cm.client, NodeName: o.Node.Name, Log: log})
	o.OnPodStatus = cm.pods.PodStatus
	o.APIVolumes = apivolume.NewManager(apivolume.Options{
		Client: cm.client, Clock: o.Clock, Log: log,
		Env: apivolume.Env{HostIP: o.Node.IP, NodeAllocatable: envvar.HostAllocatable()},
	})
	return o
}

// build makes the Node keeper, the mirror pods and the event forwarder
// for agent a; cm (nil without --kubeconfig) is what Run then runs.
func (cm *clusterMode) build(f daemonFlags, taints []v1.Taint, a *agent.Agent, log *slog.Logger) (*clusterMode, error) {
	if cm == nil {
		return nil, nil
	}
	c := f.cluster
	var err error
	cm.node, err = cluster.New(cluster.Options{
		Client: cm.client, Local: a, Sink: a, NodeName: a.NodeName(), NodeIP: cm.ip, RegisterNode: c.registerNode,
		Labels: f.nodeLabels, Taints: taints,
		StatusUpdateFrequency: c.statusUpdate, StatusReportFrequency: c.statusReport,
		LeaseDurationSeconds: c.leaseDurationSeconds, Port: c.port, Log: log,
		Events: lazyNodeEvents{cm},
	})
	if err != nil {
		return nil, err
	}
	if cm.mirrors, err = cluster.NewMirrors(cluster.MirrorOptions{
		Client: cm.client, Local: a, NodeName: a.NodeName(), NodeUID: cm.node.UID, Log: log,
	}); err != nil {
		return nil, err
	}
	cm.pods.SetMirrorUID(func(static *v1.Pod) (types.UID, bool) {
		ref, ok := cm.mirrors.MirrorOf(static.UID)
		return ref.UID, ok
	})
	if cm.ev, err = cluster.NewEvents(cluster.EventsOptions{
		Client: cm.events, Local: a, NodeName: a.NodeName(), Mirrors: cm.mirrors, Log: log,
	}); err != nil {
		return nil, err
	}
	return cm, nil
}

// lazyNodeEvents hands the Node's events to clusterMode's Events, built
// after the Node.
type lazyNodeEvents struct{ m *clusterMode }

func (l lazyNodeEvents) NodeEvent(eventType, reason, message string) {
	if l.m.ev != nil {
		l.m.ev.NodeEvent(eventType, reason, message)
	}
}

// Run runs the Node keeper, the event forwarder and the mirror pods until
// ctx ends; the Node's error is returned.
func (cm *clusterMode) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := cm.ev.Run(ctx); err != nil {
			cm.log.Error("cluster events stopped", "err", err)
		}
	})
	wg.Go(func() {
		if err := cm.mirrors.Run(ctx); err != nil {
			cm.log.Error("mirror pods stopped", "err", err)
		}
	})
	return cm.node.Run(ctx)
}
