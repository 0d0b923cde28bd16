package cli

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/miniagent/miniagent/agent/admission"
	"github.com/miniagent/miniagent/agent/api"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// nodePods lists the pods that are not terminal on the node (kubectl's
// spec.nodeName=NAME,status.phase!=Failed,status.phase!=Succeeded).
func nodePods(ctx context.Context, c *api.Client, node string) ([]v1.Pod, error) {
	all, err := c.ListPods(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []v1.Pod
	for _, p := range all {
		if p.Status.Phase == v1.PodFailed || p.Status.Phase == v1.PodSucceeded {
			continue
		}
		if p.Spec.NodeName != "" && p.Spec.NodeName != node {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// percent is part of whole in whole percent, 0 when whole is 0.
func percent(part, whole int64) int64 {
	if whole == 0 {
		return 0
	}
	return int64(float64(part) / float64(whole) * 100)
}

// describeNodePods writes kubectl's "Non-terminated Pods" table and the
// "Allocated resources" summary. Requests and limits are computed as the
// scheduler does (admission.PodRequests / PodLimits).
func describeNodePods(o *out, n *v1.Node, pods []v1.Pod, now time.Time) {
	alloc := n.Status.Capacity
	if len(n.Status.Allocatable) > 0 {
		alloc = n.Status.Allocatable
	}
	allocCPU, allocMem := alloc.Cpu().MilliValue(), alloc.Memory().Value()
	o.line(0, "Non-terminated Pods:\t(%d in total)\n", len(pods))
	o.line(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
	o.line(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
	reqs, lims := v1.ResourceList{}, v1.ResourceList{}
	for i := range pods {
		p := &pods[i]
		req, lim := admission.PodRequests(p), admission.PodLimits(p)
		addTo(reqs, req)
		addTo(lims, lim)
		cr, cl, mr, ml := req[v1.ResourceCPU], lim[v1.ResourceCPU], req[v1.ResourceMemory], lim[v1.ResourceMemory]
		o.line(1, "%s\t%s\t\t%s (%d%%)\t%s (%d%%)\t%s (%d%%)\t%s (%d%%)\t%s\n", p.Namespace, p.Name,
			cr.String(), percent(cr.MilliValue(), allocCPU), cl.String(), percent(cl.MilliValue(), allocCPU),
			mr.String(), percent(mr.Value(), allocMem), ml.String(), percent(ml.Value(), allocMem),
			since(p.CreationTimestamp, now))
	}
	o.line(0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
	o.line(1, "Resource\tRequests\tLimits\n")
	o.line(1, "--------\t--------\t------\n")
	row := func(name v1.ResourceName) {
		r, l := reqs[name], lims[name]
		a := alloc[name]
		if name == v1.ResourceCPU {
			o.line(1, "%s\t%s (%d%%)\t%s (%d%%)\n", name, r.String(), percent(r.MilliValue(), a.MilliValue()), l.String(), percent(l.MilliValue(), a.MilliValue()))
			return
		}
		o.line(1, "%s\t%s (%d%%)\t%s (%d%%)\n", name, r.String(), percent(r.Value(), a.Value()), l.String(), percent(l.Value(), a.Value()))
	}
	row(v1.ResourceCPU)
	row(v1.ResourceMemory)
	row(v1.ResourceEphemeralStorage)
	var huge, ext []string
	for name := range alloc {
		s := string(name)
		switch {
		case strings.HasPrefix(s, v1.ResourceHugePagesPrefix):
			huge = append(huge, s)
		case strings.Contains(s, "/") && !strings.Contains(s, "kubernetes.io/"):
			ext = append(ext, s)
		}
	}
	sort.Strings(huge)
	sort.Strings(ext)
	for _, s := range huge {
		row(v1.ResourceName(s))
	}
	for _, s := range ext {
		r, l := reqs[v1.ResourceName(s)], lims[v1.ResourceName(s)]
		o.line(1, "%s\t%s\t%s\n", s, r.String(), l.String())
	}
}

func addTo(dst, src v1.ResourceList) {
	for k, q := range src {
		cur, ok := dst[k]
		if !ok {
			cur = resource.Quantity{Format: q.Format}
		}
		cur.Add(q)
		dst[k] = cur
	}
}

// preferredAffinity evaluates the pod's preferred affinity terms on the
// agent's node and its other non-terminal pods; nil if it has none or the
// node cannot be read.
func preferredAffinity(ctx context.Context, c *api.Client, pod *v1.Pod) []admission.PreferredTerm {
	a := pod.Spec.Affinity
	if a == nil {
		return nil
	}
	has := (a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0) ||
		(a.PodAffinity != nil && len(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0) ||
		(a.PodAntiAffinity != nil && len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0)
	if !has {
		return nil
	}
	node, err := c.Node(ctx)
	if err != nil {
		return nil
	}
	pods, err := nodePods(ctx, c, node.Name)
	if err != nil {
		return nil
	}
	existing := make([]*v1.Pod, len(pods))
	for i := range pods {
		existing[i] = &pods[i]
	}
	return admission.PreferredAffinity(pod, node, existing)
}

// describePreferred writes the "Preferred Affinity" table of describe pod.
func describePreferred(o *out, terms []admission.PreferredTerm) {
	if len(terms) == 0 {
		return
	}
	o.tw.Flush()
	o.line(0, "Preferred Affinity:\n  Type\tWeight\tTerm\tSatisfied\n")
	o.line(1, "----\t------\t----\t---------\n")
	for _, t := range terms {
		sat := "no"
		if t.Satisfied {
			sat = "yes"
		}
		o.line(1, "%s\t%d\t%s\t%s\n", t.Kind, t.Weight, t.Term, sat)
	}
	o.tw.Flush()
}
