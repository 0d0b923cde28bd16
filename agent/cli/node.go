package cli

import (
	"context"
	"io"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
)

var (
	nodeColumns     = []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"}
	nodeWideColumns = []string{"INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"}
)

const roleLabelPrefix = "node-role.kubernetes.io/"

// nodeRow computes the cells of one `get nodes` line like kubectl.
func nodeRow(n *v1.Node, now time.Time, wide bool) []string {
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			status = "NotReady"
			if c.Status == v1.ConditionTrue {
				status = "Ready"
			}
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	var roles []string
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, roleLabelPrefix) && len(k) > len(roleLabelPrefix):
			roles = append(roles, strings.TrimPrefix(k, roleLabelPrefix))
		case k == "kubernetes.io/role" && v != "":
			roles = append(roles, v)
		}
	}
	sort.Strings(roles)
	role := "<none>"
	if len(roles) > 0 {
		role = strings.Join(roles, ",")
	}
	row := []string{n.Name, status, role, since(n.CreationTimestamp, now), n.Status.NodeInfo.KubeletVersion}
	if !wide {
		return row
	}
	addr := func(t v1.NodeAddressType) string {
		for _, a := range n.Status.Addresses {
			if a.Type == t {
				return a.Address
			}
		}
		return "<none>"
	}
	info := n.Status.NodeInfo
	return append(row, addr(v1.NodeInternalIP), addr(v1.NodeExternalIP), orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion))
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func (a *app) getNodes(ctx context.Context, names []string, p *printer, noHeaders bool) int {
	c := a.client()
	var nodes []v1.Node
	if len(names) == 0 {
		n, err := c.Node(ctx)
		if err != nil {
			return a.fail(err)
		}
		nodes = append(nodes, *n)
	}
	for _, name := range names {
		n, err := c.GetNode(ctx, name)
		if err != nil {
			return a.fail(err)
		}
		nodes = append(nodes, *n)
	}
	if p.format == "" || p.format == "wide" {
		tw := newTable(a.stdout)
		if !noHeaders {
			h := nodeColumns
			if p.format == "wide" {
				h = append(append([]string(nil), h...), nodeWideColumns...)
			}
			writeRow(tw, h)
		}
		for i := range nodes {
			writeRow(tw, nodeRow(&nodes[i], a.clock.Now(), p.format == "wide"))
		}
		tw.Flush()
		return 0
	}
	items := make([]any, len(nodes))
	nn := make([]string, len(nodes))
	for i := range nodes {
		nodes[i].Kind, nodes[i].APIVersion = "Node", "v1"
		items[i], nn[i] = &nodes[i], nodes[i].Name
	}
	var err error
	if len(names) == 1 {
		err = p.printObject(a.stdout, &nodes[0], "node", nn)
	} else {
		err = p.printObject(a.stdout, list(items), "node", nn)
	}
	if err != nil {
		return a.fail(err)
	}
	return 0
}

// describeNode writes the kubectl describe view of the node, pods being its
// non-terminated pods.
func describeNode(w io.Writer, n *v1.Node, pods []v1.Pod, now time.Time) {
	o := newOut(w)
	o.line(0, "Name:\t%s\n", n.Name)
	o.line(0, "Roles:\t%s\n", nodeRow(n, now, false)[2])
	multiline(o, "Labels", n.Labels, "=")
	multiline(o, "Annotations", n.Annotations, ": ")
	o.line(0, "CreationTimestamp:\t%s\n", stamp(n.CreationTimestamp.Time))
	o.line(0, "Taints:\t")
	if len(n.Spec.Taints) == 0 {
		o.line(0, "<none>\n")
	}
	for i, t := range n.Spec.Taints {
		if i > 0 {
			o.line(0, "\t")
		}
		o.line(0, "%s\n", t.ToString())
	}
	o.line(0, "Unschedulable:\t%v\n", n.Spec.Unschedulable)
	if len(n.Status.Conditions) > 0 {
		o.line(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
		o.line(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
		for _, c := range n.Status.Conditions {
			o.line(1, "%v \t%v \t%s \t%s \t%v \t%v\n", c.Type, c.Status, stamp(c.LastHeartbeatTime.Time), stamp(c.LastTransitionTime.Time), c.Reason, c.Message)
		}
	}
	o.line(0, "Addresses:\n")
	for _, a := range n.Status.Addresses {
		o.line(1, "%s:\t%s\n", a.Type, a.Address)
	}
	for _, rl := range []struct {
		title string
		list  v1.ResourceList
	}{{"Capacity", n.Status.Capacity}, {"Allocatable", n.Status.Allocatable}} {
		if len(rl.list) == 0 {
			continue
		}
		o.line(0, "%s:\n", rl.title)
		keys := make([]string, 0, len(rl.list))
		for k := range rl.list {
			keys = append(keys, string(k))
		}
		sort.Strings(keys)
		for _, k := range keys {
			q := rl.list[v1.ResourceName(k)]
			o.line(1, "%s:\t%s\n", k, q.String())
		}
	}
	i := n.Status.NodeInfo
	o.line(0, "System Info:\n")
	for _, kv := range [][2]string{
		{"Machine ID", i.MachineID}, {"System UUID", i.SystemUUID}, {"Boot ID", i.BootID},
		{"Kernel Version", i.KernelVersion}, {"OS Image", i.OSImage}, {"Operating System", i.OperatingSystem},
		{"Architecture", i.Architecture}, {"Container Runtime Version", i.ContainerRuntimeVersion},
		{"Kubelet Version", i.KubeletVersion},
	} {
		o.line(1, "%s:\t%s\n", kv[0], kv[1])
	}
	describeNodePods(o, n, pods, now)
	o.line(0, "Events:\t<none>\n")
	o.tw.Flush()
}
