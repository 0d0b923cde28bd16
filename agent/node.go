package agent

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/oom"
)

// NodeConfig describes this node as flags set it.
type NodeConfig struct {
	Name   string
	Labels map[string]string
	Taints []v1.Taint
	// MaxPods is the node's pod capacity (kubelet's --max-pods; 0 = DefaultMaxPods).
	MaxPods int
	// IP is the node's address (--node-ip in cluster mode): the pods'
	// hostIP, and podIP with hostNetwork. "" = the host's first global
	// IPv4 address.
	IP string
	// Cluster says the node is a Node of a Kubernetes cluster: its labels
	// and taints become the apiserver's (SetAPIServerNode), UpdateNode
	// refuses and no persisted node.json applies. Labels and Taints are
	// what it registers with.
	Cluster bool
}

// DefaultMaxPods is kubelet's default --max-pods.
const DefaultMaxPods = 110

// nodeInfo is what the agent knows about its machine.
type nodeInfo struct {
	cfg            NodeConfig
	created        time.Time
	hostIP         string
	memoryCapacity int64
	cpus           int
	kernel         string
	osImage        string
	// oomFloor is the lowest oom_score_adj the agent may set; oomRestricted
	// tells it is above kubelet's values (no CAP_SYS_RESOURCE).
	oomFloor      int
	oomRestricted bool
	// runtimeVersion is the last version the runtime reported.
	runtimeVersion string
	// api is the apiserver Node's labels and taints (cluster mode, once
	// seen; nil before and in standalone mode).
	api *apiNode
}

// ResolveNodeName is the name the node goes by: name, or if that is empty
// the host's name in lower case, as the kubelet defaults --hostname-override.
func ResolveNodeName(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("--node-name not set and no hostname: %w", err)
	}
	return strings.ToLower(h), nil
}

func newNodeInfo(cfg NodeConfig, clk clock.PassiveClock) (*nodeInfo, error) {
	name, err := ResolveNodeName(cfg.Name)
	if err != nil {
		return nil, err
	}
	cfg.Name = name
	switch {
	case cfg.MaxPods < 0:
		return nil, fmt.Errorf("--max-pods %d: must not be negative", cfg.MaxPods)
	case cfg.MaxPods == 0:
		cfg.MaxPods = DefaultMaxPods
	}
	n := &nodeInfo{cfg: cfg, created: clk.Now(), cpus: goruntime.NumCPU(), hostIP: cfg.IP}
	if n.hostIP == "" {
		n.hostIP = primaryIP()
	}
	if fs, err := procfs.NewDefaultFS(); err == nil {
		if mi, err := fs.Meminfo(); err == nil && mi.MemTotal != nil {
			n.memoryCapacity = int64(*mi.MemTotal) * 1024
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		n.kernel = unix.ByteSliceToString(u.Release[:])
	}
	n.osImage = osImage()
	n.oomFloor, n.oomRestricted = oom.Floor()
	return n, nil
}

// primaryIP is the first global unicast IPv4 address of the host.
func primaryIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "127.0.0.1"
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
			return ipn.IP.String()
		}
	}
	return "127.0.0.1"
}

func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// Node returns the v1.Node of this agent.
func (a *Agent) buildNode(ctx context.Context) *v1.Node {
	if v, err := a.rt.Version(ctx); err == nil {
		a.mu.Lock()
		a.node.runtimeVersion = v
		a.mu.Unlock()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buildNodeLocked()
}

// buildNodeLocked is buildNode for a caller holding a.mu.
func (a *Agent) buildNodeLocked() *v1.Node {
	n := a.node
	labels := map[string]string{
		"kubernetes.io/hostname":  n.cfg.Name,
		"kubernetes.io/os":        goruntime.GOOS,
		"kubernetes.io/arch":      goruntime.GOARCH,
		"beta.kubernetes.io/os":   goruntime.GOOS,
		"beta.kubernetes.io/arch": goruntime.GOARCH,
	}
	for k, v := range n.cfg.Labels {
		labels[k] = v
	}
	if n.api != nil {
		labels = maps.Clone(n.api.labels)
	}
	taints := append([]v1.Taint(nil), a.nodeTaintsLocked()...)
	capacity := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(int64(n.cpus), resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(n.memoryCapacity, resource.BinarySI),
		v1.ResourcePods:   *resource.NewQuantity(int64(n.cfg.MaxPods), resource.DecimalSI),
	}
	var st unix.Statfs_t
	if unix.Statfs(a.opts.RootDir, &st) == nil {
		capacity[v1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(st.Blocks)*int64(st.Bsize), resource.BinarySI)
	}
	version := n.runtimeVersion
	now := metav1.NewTime(a.clock.Now())
	ready := v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: metav1.NewTime(n.created)}
	if !a.isRuntimeUp() {
		ready.Status, ready.Reason, ready.Message = v1.ConditionFalse, "KubeletNotReady", "container runtime is down"
	}
	mp := a.memoryPressureConditionLocked(now)
	mp.LastHeartbeatTime = now
	conds := []v1.NodeCondition{
		mp,
		{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, Reason: "KubeletHasNoDiskPressure",
			Message: "kubelet has no disk pressure", LastHeartbeatTime: now, LastTransitionTime: metav1.NewTime(n.created)},
		{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientPID",
			Message: "kubelet has sufficient PID available", LastHeartbeatTime: now, LastTransitionTime: metav1.NewTime(n.created)},
		ready,
	}
	annotations := map[string]string{}
	if n.oomRestricted {
		annotations["miniagent.io/oom-score-adj-floor"] = itoa(n.oomFloor)
	}
	return &v1.Node{
		TypeMeta:   metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: n.cfg.Name, Labels: labels, Annotations: annotations, CreationTimestamp: metav1.NewTime(n.created), UID: types.UID("node-" + n.cfg.Name)},
		Spec:       v1.NodeSpec{Taints: taints},
		Status: v1.NodeStatus{
			Capacity:    capacity,
			Allocatable: a.allocatable(capacity),
			Conditions:  conds,
			Addresses: []v1.NodeAddress{
				{Type: v1.NodeInternalIP, Address: n.hostIP},
				{Type: v1.NodeHostName, Address: n.cfg.Name},
			},
			NodeInfo: v1.NodeSystemInfo{
				KernelVersion:           n.kernel,
				OSImage:                 n.osImage,
				ContainerRuntimeVersion: version,
				KubeletVersion:          KubeletVersion,
				OperatingSystem:         goruntime.GOOS,
				Architecture:            goruntime.GOARCH,
			},
		},
	}
}

// KubeletVersion is the Kubernetes version whose kubelet behaviour miniagent follows.
const KubeletVersion = "v1.33.0-miniagent"

func metav1Now(a *Agent) metav1.Time { return metav1.NewTime(a.clock.Now()) }
