package cluster

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// localNode is what agent.Agent.Node returns, reduced to what the setters read.
func localNode(ready v1.ConditionStatus, runtimeVersion string) *v1.Node {
	cond := func(t v1.NodeConditionType, s v1.ConditionStatus, reason, msg string) v1.NodeCondition {
		return v1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg}
	}
	readyReason, readyMsg := "KubeletReady", "kubelet is posting ready status"
	if ready != v1.ConditionTrue {
		readyReason, readyMsg = "KubeletNotReady", "container runtime is down"
	}
	return &v1.Node{Status: v1.NodeStatus{
		Capacity:    v1.ResourceList{v1.ResourceCPU: resource.MustParse("2"), v1.ResourceMemory: resource.MustParse("8Gi"), v1.ResourcePods: resource.MustParse("110")},
		Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1900m"), v1.ResourceMemory: resource.MustParse("7Gi"), v1.ResourcePods: resource.MustParse("110")},
		Conditions: []v1.NodeCondition{
			cond(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			cond(v1.NodeReady, ready, readyReason, readyMsg),
		},
		Addresses: []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "10.1.2.3"}, {Type: v1.NodeHostName, Address: "ignored"}},
		NodeInfo: v1.NodeSystemInfo{KernelVersion: "6.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)",
			ContainerRuntimeVersion: runtimeVersion, KubeletVersion: "v1.33.0-miniagent"},
	}}
}

func testInputs(now time.Time, local *v1.Node) inputs {
	return inputs{local: local, hostname: "node-a", port: 10250, now: now,
		ids: systemIDs{machineID: "m", systemUUID: "u", bootID: "b"}}
}

func TestSetConditions(t *testing.T) {
	t1 := t0.Add(10 * time.Second)
	others := v1.NodeCondition{Type: "NetworkUnavailable", Status: v1.ConditionFalse, Reason: "RouteCreated"}
	tests := []struct {
		name     string
		existing []v1.NodeCondition
		local    *v1.Node
		// wantTypes in order; wantReadyTransition is Ready's LastTransitionTime.
		wantTypes           []v1.NodeConditionType
		wantReady           v1.ConditionStatus
		wantReadyTransition time.Time
	}{
		{name: "new node: kubelet's order, Ready last", local: localNode(v1.ConditionTrue, "containerd://1.6.20"),
			wantTypes: []v1.NodeConditionType{v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure, v1.NodeReady},
			wantReady: v1.ConditionTrue, wantReadyTransition: t1},
		{name: "same status keeps the transition time", local: localNode(v1.ConditionTrue, ""),
			existing:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0), LastHeartbeatTime: metav1.NewTime(t0)}},
			wantTypes: []v1.NodeConditionType{v1.NodeReady, v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure},
			wantReady: v1.ConditionTrue, wantReadyTransition: t0},
		{name: "changed status moves the transition time", local: localNode(v1.ConditionFalse, ""),
			existing:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0)}},
			wantTypes: []v1.NodeConditionType{v1.NodeReady, v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure},
			wantReady: v1.ConditionFalse, wantReadyTransition: t1},
		{name: "Unknown set by the controller manager becomes True again", local: localNode(v1.ConditionTrue, ""),
			existing:  []v1.NodeCondition{others, {Type: v1.NodeReady, Status: v1.ConditionUnknown, Reason: "NodeStatusUnknown", LastTransitionTime: metav1.NewTime(t0)}},
			wantTypes: []v1.NodeConditionType{"NetworkUnavailable", v1.NodeReady, v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure},
			wantReady: v1.ConditionTrue, wantReadyTransition: t1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &v1.Node{Status: v1.NodeStatus{Conditions: tt.existing}}
			setConditions(testInputs(t1, tt.local), node)
			var types []v1.NodeConditionType
			for _, c := range node.Status.Conditions {
				types = append(types, c.Type)
				if c.Type == "NetworkUnavailable" {
					if c.Reason != "RouteCreated" || !c.LastHeartbeatTime.IsZero() {
						t.Errorf("a condition of another component was changed: %+v", c)
					}
					continue
				}
				if !c.LastHeartbeatTime.Time.Equal(t1) {
					t.Errorf("%s heartbeat = %v, want %v", c.Type, c.LastHeartbeatTime, t1)
				}
			}
			if got, want := fmtTypes(types), fmtTypes(tt.wantTypes); got != want {
				t.Errorf("condition order = %s, want %s", got, want)
			}
			r := node.Status.Conditions[conditionIndex(node.Status.Conditions, v1.NodeReady)]
			if r.Status != tt.wantReady || !r.LastTransitionTime.Time.Equal(tt.wantReadyTransition) {
				t.Errorf("Ready = %s since %v, want %s since %v", r.Status, r.LastTransitionTime, tt.wantReady, tt.wantReadyTransition)
			}
			wantReason := map[v1.ConditionStatus]string{v1.ConditionTrue: "KubeletReady", v1.ConditionFalse: "KubeletNotReady"}[tt.wantReady]
			if r.Reason != wantReason {
				t.Errorf("Ready reason = %q, want %q", r.Reason, wantReason)
			}
		})
	}
}

func fmtTypes(ts []v1.NodeConditionType) string {
	var s []string
	for _, t := range ts {
		s = append(s, string(t))
	}
	return strings.Join(s, ",")
}

func TestSetAddresses(t *testing.T) {
	for _, tt := range []struct {
		nodeIP, want string
	}{{"", "10.1.2.3"}, {"127.0.0.2", "127.0.0.2"}} {
		in := testInputs(t0, localNode(v1.ConditionTrue, ""))
		in.nodeIP = tt.nodeIP
		node := &v1.Node{}
		setAddresses(in, node)
		want := []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: tt.want}, {Type: v1.NodeHostName, Address: "node-a"}}
		if len(node.Status.Addresses) != 2 || node.Status.Addresses[0] != want[0] || node.Status.Addresses[1] != want[1] {
			t.Errorf("--node-ip %q: addresses = %v, want %v", tt.nodeIP, node.Status.Addresses, want)
		}
	}
}

func TestSetNodeInfoKeepsLastRuntimeVersion(t *testing.T) {
	node := &v1.Node{}
	setNodeInfo(testInputs(t0, localNode(v1.ConditionTrue, "containerd://1.6.20")), node)
	setNodeInfo(testInputs(t0, localNode(v1.ConditionTrue, "")), node)
	ni := node.Status.NodeInfo
	if ni.ContainerRuntimeVersion != "containerd://1.6.20" || ni.KernelVersion != "6.1.0" || ni.KubeletVersion != "v1.33.0-miniagent" ||
		ni.OSImage == "" || ni.OperatingSystem == "" || ni.Architecture == "" || ni.MachineID != "m" || ni.SystemUUID != "u" || ni.BootID != "b" {
		t.Errorf("nodeInfo = %+v", ni)
	}
}

func TestStatusChanged(t *testing.T) {
	base := &v1.Node{}
	setNodeStatus(testInputs(t0, localNode(v1.ConditionTrue, "containerd://1.6.20")), base)
	later := func(mut func(*v1.Node)) *v1.NodeStatus {
		n := base.DeepCopy()
		setNodeStatus(testInputs(t0.Add(time.Minute), localNode(v1.ConditionTrue, "containerd://1.6.20")), n)
		if mut != nil {
			mut(n)
		}
		return &n.Status
	}
	tests := []struct {
		name string
		new  *v1.NodeStatus
		want bool
	}{
		{"only heartbeats moved", later(nil), false},
		{"a condition's status", later(func(n *v1.Node) { n.Status.Conditions[3].Status = v1.ConditionFalse }), true},
		{"a condition's message", later(func(n *v1.Node) { n.Status.Conditions[0].Message = "x" }), true},
		{"allocatable", later(func(n *v1.Node) { n.Status.Allocatable[v1.ResourcePods] = resource.MustParse("10") }), true},
		{"an address", later(func(n *v1.Node) { n.Status.Addresses[0].Address = "10.9.9.9" }), true},
		{"one condition less", later(func(n *v1.Node) { n.Status.Conditions = n.Status.Conditions[:3] }), true},
		{"the kubelet port", later(func(n *v1.Node) { n.Status.DaemonEndpoints.KubeletEndpoint.Port = 1 }), true},
	}
	for _, tt := range tests {
		if got := statusChanged(&base.Status, tt.new); got != tt.want {
			t.Errorf("%s: statusChanged = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestReconcileExisting(t *testing.T) {
	o := Options{NodeName: "node-a", Labels: map[string]string{"zone": "a"}}
	initial := initialNode(o, testInputs(t0, localNode(v1.ConditionTrue, "")))
	tests := []struct {
		name       string
		labels     map[string]string
		wantChange bool
	}{
		{"all default labels right", initial.Labels, false},
		{"hostname label wrong", merge(initial.Labels, map[string]string{v1.LabelHostname: "old"}), true},
		{"os label missing", without(initial.Labels, v1.LabelOSStable), true},
		{"a user removed --node-labels: left alone", without(initial.Labels, "zone"), false},
		{"a user added a label: kept", merge(initial.Labels, map[string]string{"team": "x"}), false},
	}
	for _, tt := range tests {
		existing := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: merge(tt.labels, nil),
			Annotations: map[string]string{controllerManagedAttachDetach: "true"}}}
		if got := reconcileExisting(initial, existing); got != tt.wantChange {
			t.Errorf("%s: changed = %v, want %v", tt.name, got, tt.wantChange)
		}
		for k, v := range defaultLabels("node-a") {
			if existing.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", tt.name, k, existing.Labels[k], v)
			}
		}
		for k, v := range tt.labels {
			if _, def := defaultLabels("")[k]; !def && existing.Labels[k] != v {
				t.Errorf("%s: user label %s changed to %q", tt.name, k, existing.Labels[k])
			}
		}
	}
	bare := &v1.Node{}
	if !reconcileExisting(initial, bare) || bare.Annotations[controllerManagedAttachDetach] != "true" {
		t.Errorf("the attach/detach annotation was not set: %v", bare.Annotations)
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func without(a map[string]string, key string) map[string]string {
	out := merge(a, nil)
	delete(out, key)
	return out
}

func TestValidateNodeLabels(t *testing.T) {
	tests := []struct {
		labels  map[string]string
		wantErr string
	}{
		{map[string]string{"zone": "a", "disk": "ssd"}, ""},
		{map[string]string{"node.kubernetes.io/pool": "x", "kubelet.kubernetes.io/y": "z", "topology.kubernetes.io/zone": "a"}, ""},
		{map[string]string{"node-role.kubernetes.io/master": ""}, "node-role.kubernetes.io/master: labels in the kubernetes.io"},
		{map[string]string{"foo.k8s.io/x": "1"}, "foo.k8s.io/x"},
		{map[string]string{"bad key!": "1"}, "--node-labels"},
		{map[string]string{"ok": "bad value!"}, "--node-labels"},
	}
	for _, tt := range tests {
		err := ValidateNodeLabels(tt.labels)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: unexpected error %v", tt.labels, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: error %v, want one containing %q", tt.labels, err, tt.wantErr)
		}
	}
}

func TestSetImagesCopiesTheAgents(t *testing.T) {
	local := localNode(v1.ConditionTrue, "")
	local.Status.Images = []v1.ContainerImage{{Names: []string{"busybox@sha256:1", "busybox:latest"}, SizeBytes: 42}}
	node := &v1.Node{Status: v1.NodeStatus{Images: []v1.ContainerImage{{Names: []string{"old:1"}, SizeBytes: 1}}}}
	setNodeStatus(testInputs(t0, local), node)
	if len(node.Status.Images) != 1 || node.Status.Images[0].Names[1] != "busybox:latest" || node.Status.Images[0].SizeBytes != 42 {
		t.Fatalf("status.images = %+v", node.Status.Images)
	}
	local.Status.Images[0].SizeBytes = 7
	if node.Status.Images[0].SizeBytes != 42 {
		t.Fatal("status.images shares the agent's slice")
	}
	if !statusChanged(&v1.NodeStatus{}, &node.Status) {
		t.Fatal("new images are not a status change")
	}
}
