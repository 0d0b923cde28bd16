package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/client-go/kubernetes"
	kubeletapis "k8s.io/kubelet/pkg/apis"
	"k8s.io/utils/clock"
)

// Kubelet's defaults for the flags of the same names.
const (
	DefaultStatusUpdateFrequency = 10 * time.Second
	DefaultStatusReportFrequency = 5 * time.Minute
	DefaultLeaseDurationSeconds  = 40
	DefaultPort                  = 10250
)

// LocalNode is the agent's own view of its node: capacity, allocatable,
// conditions and node info as the standalone API shows them
// (agent.Agent implements it).
type LocalNode interface {
	Node(ctx context.Context) (*v1.Node, error)
}

// Options configure the cluster mode. cmd/miniagent fills them from the
// kubelet-named flags.
type Options struct {
	Client   kubernetes.Interface
	Local    LocalNode
	NodeName string
	// NodeIP is the InternalIP address (--node-ip); nil takes the agent's.
	NodeIP net.IP
	// RegisterNode creates the Node when it does not exist (--register-node).
	RegisterNode bool
	// Labels (--node-labels) and Taints (--register-with-taints) are set
	// when the Node is created.
	Labels map[string]string
	Taints []v1.Taint
	// StatusUpdateFrequency, StatusReportFrequency and LeaseDurationSeconds
	// are --node-status-update-frequency, --node-status-report-frequency and
	// --node-lease-duration-seconds (0 = kubelet's default).
	StatusUpdateFrequency time.Duration
	StatusReportFrequency time.Duration
	LeaseDurationSeconds  int32
	// Port is advertised as daemonEndpoints.kubeletEndpoint.Port (--port).
	Port int32
	// Sink, if set, is handed the Node from the apiserver on every change
	// (its labels and taints, which win over Labels and Taints once the
	// Node exists).
	Sink NodeSink
	// Events, if set, records kubelet's node status events (NodeReady...).
	Events NodeEventRecorder
	Clock  clock.WithTicker // nil = the real clock
	Log    *slog.Logger
}

// withDefaults validates o and fills in the defaults. Errors name the flag.
func (o Options) withDefaults() (Options, error) {
	if o.Client == nil || o.Local == nil {
		return o, fmt.Errorf("cluster: Client and Local are required")
	}
	if o.NodeName == "" {
		return o, fmt.Errorf("--node-name: must not be empty in cluster mode")
	}
	if err := ValidateNodeLabels(o.Labels); err != nil {
		return o, err
	}
	if o.NodeIP != nil && (o.NodeIP.IsUnspecified() || o.NodeIP.IsMulticast()) {
		return o, fmt.Errorf("--node-ip %s: must be a unicast address of this host", o.NodeIP)
	}
	def := func(d *time.Duration, v time.Duration, flag string) error {
		switch {
		case *d < 0:
			return fmt.Errorf("%s %s: must not be negative", flag, *d)
		case *d == 0:
			*d = v
		}
		return nil
	}
	if err := def(&o.StatusUpdateFrequency, DefaultStatusUpdateFrequency, "--node-status-update-frequency"); err != nil {
		return o, err
	}
	if err := def(&o.StatusReportFrequency, DefaultStatusReportFrequency, "--node-status-report-frequency"); err != nil {
		return o, err
	}
	switch {
	case o.LeaseDurationSeconds < 0:
		return o, fmt.Errorf("--node-lease-duration-seconds %d: must not be negative", o.LeaseDurationSeconds)
	case o.LeaseDurationSeconds == 0:
		o.LeaseDurationSeconds = DefaultLeaseDurationSeconds
	}
	switch {
	case o.Port == 0:
		o.Port = DefaultPort
	case o.Port < 0 || o.Port > 65535:
		return o, fmt.Errorf("--port %d: must be between 1 and 65535", o.Port)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o, nil
}

// ValidateNodeLabels checks --node-labels as kubelet does: valid label
// keys and values, and in the kubernetes.io and k8s.io namespaces only
// the labels a kubelet may set on its own Node (NodeRestriction rejects
// the others).
func ValidateNodeLabels(labels map[string]string) error {
	if errs := metav1validation.ValidateLabels(labels, nil); len(errs) > 0 {
		return fmt.Errorf("--node-labels: %s", errs.ToAggregate())
	}
	var bad []string
	for k := range labels {
		if isKubernetesLabel(k) && !kubeletapis.IsKubeletLabel(k) {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("--node-labels: %s: labels in the kubernetes.io and k8s.io namespaces must begin with kubelet.kubernetes.io/ or node.kubernetes.io/ or be one of %s",
			strings.Join(bad, ", "), strings.Join(kubeletapis.KubeletLabels(), ", "))
	}
	return nil
}

func isKubernetesLabel(key string) bool {
	ns, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	for _, d := range []string{"kubernetes.io", "k8s.io"} {
		if ns == d || strings.HasSuffix(ns, "."+d) {
			return true
		}
	}
	return false
}
