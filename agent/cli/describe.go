package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/miniagent/miniagent/agent/admission"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/duration"
)

// out writes kubectl-describe lines: two spaces of indent per level, cells
// separated by tabs and aligned by one tabwriter.
type out struct{ tw *tabwriter.Writer }

func newOut(w io.Writer) *out { return &out{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)} }

func (o *out) line(level int, format string, args ...any) {
	fmt.Fprintf(o.tw, strings.Repeat("  ", level)+format, args...)
}

func (a *app) describe(ctx context.Context, args []string) int {
	fs := a.flagSet("describe")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	res, names, err := splitResource(rest)
	if err != nil {
		return a.fail(err)
	}
	if res == "events" {
		return a.fail(errors.New("describe supports pods and nodes; use 'get events'"))
	}
	c := a.client()
	if res == "nodes" {
		if len(names) == 0 {
			n, err := c.Node(ctx)
			if err != nil {
				return a.fail(err)
			}
			names = []string{n.Name}
		}
		for i, name := range names {
			n, err := c.GetNode(ctx, name)
			if err != nil {
				return a.fail(err)
			}
			pods, err := nodePods(ctx, c, n.Name)
			if err != nil {
				return a.fail(err)
			}
			if i > 0 {
				fmt.Fprintln(a.stdout)
			}
			describeNode(a.stdout, n, pods, a.clock.Now())
		}
		return 0
	}
	if len(names) == 0 {
		pods, err := c.ListPods(ctx, a.namespace)
		if err != nil {
			return a.fail(err)
		}
		for _, p := range pods {
			names = append(names, p.Name)
		}
	}
	rc := 0
	for i, name := range names {
		pod, err := c.GetPod(ctx, a.namespace, name)
		if err != nil {
			fmt.Fprint(a.stderr, FormatError(err))
			rc = 1
			continue
		}
		events, err := c.PodEvents(ctx, a.namespace, name)
		if err != nil {
			events = nil // the pod describes fine without them
		}
		if i > 0 {
			fmt.Fprint(a.stdout, "\n\n")
		}
		describePod(a.stdout, pod, events, preferredAffinity(ctx, c, pod), a.clock.Now())
	}
	return rc
}

func stamp(t time.Time) string { return t.Format(time.RFC1123Z) }

// describePod writes the kubectl describe view of a pod, with the
// evaluated preferred affinity terms after the tolerations.
func describePod(w io.Writer, pod *v1.Pod, events []v1.Event, preferred []admission.PreferredTerm, now time.Time) {
	o := newOut(w)
	o.line(0, "Name:\t%s\n", pod.Name)
	o.line(0, "Namespace:\t%s\n", pod.Namespace)
	if pod.Spec.Priority != nil {
		o.line(0, "Priority:\t%d\n", *pod.Spec.Priority)
	}
	if pod.Spec.PriorityClassName != "" {
		o.line(0, "Priority Class Name:\t%s\n", pod.Spec.PriorityClassName)
	}
	if pod.Spec.ServiceAccountName != "" {
		o.line(0, "Service Account:\t%s\n", pod.Spec.ServiceAccountName)
	}
	if pod.Spec.NodeName == "" {
		o.line(0, "Node:\t<none>\n")
	} else {
		o.line(0, "Node:\t%s\n", pod.Spec.NodeName+"/"+pod.Status.HostIP)
	}
	if pod.Status.StartTime != nil {
		o.line(0, "Start Time:\t%s\n", stamp(pod.Status.StartTime.Time))
	}
	multiline(o, "Labels", pod.Labels, "=")
	annotations := map[string]string{}
	for k, v := range pod.Annotations {
		if k != v1.LastAppliedConfigAnnotation {
			annotations[k] = v
		}
	}
	multiline(o, "Annotations", annotations, ": ")
	if pod.DeletionTimestamp != nil && pod.Status.Phase != v1.PodSucceeded && pod.Status.Phase != v1.PodFailed {
		o.line(0, "Status:\tTerminating (lasts %s)\n", duration.HumanDuration(now.Sub(pod.DeletionTimestamp.Time)))
		if pod.DeletionGracePeriodSeconds != nil {
			o.line(0, "Termination Grace Period:\t%ds\n", *pod.DeletionGracePeriodSeconds)
		}
	} else {
		o.line(0, "Status:\t%s\n", pod.Status.Phase)
	}
	if pod.Status.Reason != "" {
		o.line(0, "Reason:\t%s\n", pod.Status.Reason)
	}
	if pod.Status.Message != "" {
		o.line(0, "Message:\t%s\n", pod.Status.Message)
	}
	o.line(0, "IP:\t%s\n", pod.Status.PodIP)
	if len(pod.Status.PodIPs) == 0 {
		o.line(0, "IPs:\t<none>\n")
	} else {
		o.line(0, "IPs:\n")
		for _, ip := range pod.Status.PodIPs {
			o.line(1, "IP:\t%s\n", ip.IP)
		}
	}
	if len(pod.Spec.InitContainers) > 0 {
		describeContainers(o, "Init Containers", pod.Spec.InitContainers, pod.Status.InitContainerStatuses)
	}
	describeContainers(o, "Containers", pod.Spec.Containers, pod.Status.ContainerStatuses)
	if len(pod.Status.Conditions) > 0 {
		o.line(0, "Conditions:\n  Type\tStatus\n")
		for _, c := range pod.Status.Conditions {
			o.line(1, "%v \t%v \n", c.Type, c.Status)
		}
	}
	describeVolumes(o, pod.Spec.Volumes)
	qos := pod.Status.QOSClass
	if qos == "" {
		qos = qosClass(pod)
	}
	o.line(0, "QoS Class:\t%s\n", qos)
	multiline(o, "Node-Selectors", pod.Spec.NodeSelector, "=")
	describeTolerations(o, pod.Spec.Tolerations)
	describePreferred(o, preferred)
	describeEvents(o, events, now)
	o.tw.Flush()
}

// multiline writes a sorted map as "Title: k=v" with one entry per line.
func multiline(o *out, title string, m map[string]string, sep string) {
	o.line(0, "%s:\t", title)
	if len(m) == 0 {
		o.line(0, "<none>\n")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			o.line(0, "\t")
		}
		o.line(0, "%s%s%s\n", k, sep, m[k])
	}
}

func describeVolumes(o *out, vols []v1.Volume) {
	if len(vols) == 0 {
		o.line(0, "Volumes:\t<none>\n")
		return
	}
	o.line(0, "Volumes:\n")
	for _, v := range vols {
		o.line(1, "%s:\n", v.Name)
		switch {
		case v.HostPath != nil:
			t := ""
			if v.HostPath.Type != nil {
				t = string(*v.HostPath.Type)
			}
			o.line(2, "Type:\tHostPath (bare host directory volume)\n")
			o.line(2, "Path:\t%s\n", v.HostPath.Path)
			o.line(2, "HostPathType:\t%s\n", t)
		case v.EmptyDir != nil:
			limit := "<unset>"
			if v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.Cmp(resource.Quantity{}) > 0 {
				limit = v.EmptyDir.SizeLimit.String()
			}
			o.line(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n")
			o.line(2, "Medium:\t%s\n", v.EmptyDir.Medium)
			o.line(2, "SizeLimit:\t%s\n", limit)
		case v.ConfigMap != nil:
			o.line(2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n")
			o.line(2, "Name:\t%s\n", v.ConfigMap.Name)
			o.line(2, "Optional:\t%v\n", v.ConfigMap.Optional != nil && *v.ConfigMap.Optional)
		case v.Secret != nil:
			o.line(2, "Type:\tSecret (a volume populated by a Secret)\n")
			o.line(2, "SecretName:\t%s\n", v.Secret.SecretName)
			o.line(2, "Optional:\t%v\n", v.Secret.Optional != nil && *v.Secret.Optional)
		default:
			o.line(1, "<unknown>\n")
		}
	}
}

func describeTolerations(o *out, tols []v1.Toleration) {
	o.line(0, "Tolerations:\t")
	if len(tols) == 0 {
		o.line(0, "<none>\n")
		return
	}
	for i, t := range tols {
		if i > 0 {
			o.line(0, "\t")
		}
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + string(t.Effect)
		}
		if t.Operator == v1.TolerationOpExists && t.Value == "" {
			if s != "" {
				s += " "
			}
			s += "op=Exists"
		}
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" for %ds", *t.TolerationSeconds)
		}
		o.line(0, "%s\n", s)
	}
}

func describeEvents(o *out, events []v1.Event, now time.Time) {
	if len(events) == 0 {
		o.line(0, "Events:\t<none>\n")
		return
	}
	o.tw.Flush()
	o.line(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
	o.line(1, "----\t------\t----\t----\t-------\n")
	for _, e := range events {
		first := e.FirstTimestamp
		if !e.EventTime.IsZero() {
			first.Time = e.EventTime.Time
		}
		age := since(first, now)
		if e.Count > 1 {
			age = fmt.Sprintf("%s (x%d over %s)", since(e.LastTimestamp, now), e.Count, age)
		}
		from := e.Source.Component
		if from == "" {
			from = e.ReportingController
		}
		o.line(1, "%s\t%s\t%s\t%s\t%s\n", e.Type, e.Reason, age, from, strings.TrimSpace(e.Message))
	}
}

// qosClass is the pod's QoS class when the status does not say it.
func qosClass(pod *v1.Pod) v1.PodQOSClass {
	all := append(append([]v1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	any, guaranteed := false, true
	for _, c := range all {
		for _, r := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			lim, hasLim := c.Resources.Limits[r]
			req, hasReq := c.Resources.Requests[r]
			if hasLim || hasReq {
				any = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return v1.PodQOSBestEffort
	case guaranteed:
		return v1.PodQOSGuaranteed
	}
	return v1.PodQOSBurstable
}
