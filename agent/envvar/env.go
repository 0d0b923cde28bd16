package envvar

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ContainerEnv returns the environment kubelet gives container c of pod, as
// KEY=VALUE pairs in the order the variables are first defined (a later
// definition of the same name replaces the value in place).
//
//   - A literal value is $(VAR)-expanded against the variables defined before
//     it; values from valueFrom are used as they are.
//   - valueFrom.fieldRef supports metadata.name, metadata.namespace,
//     metadata.uid, metadata.labels['k'], metadata.annotations['k'],
//     metadata.labels, metadata.annotations, spec.nodeName,
//     spec.serviceAccountName, status.hostIP(s) and status.podIP(s).
//   - valueFrom.resourceFieldRef supports limits/requests of cpu, memory and
//     ephemeral-storage with a divisor (default 1, result rounded up). Unset
//     limits take the node's allocatable value, as kubelet does (see
//     WithNodeAllocatable; the default is HostAllocatable()).
//   - miniagent has no ConfigMaps or Secrets: optional references to them
//     (valueFrom and envFrom) are skipped, required ones are an error.
func ContainerEnv(pod *v1.Pod, c *v1.Container, hostIP, podIP string, opts ...Option) ([]string, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	nodeAllocatable := o.allocatable
	if nodeAllocatable == nil {
		nodeAllocatable = HostAllocatable()
	}
	var names []string
	values := map[string]string{}
	set := func(k, v string) {
		if _, ok := values[k]; !ok {
			names = append(names, k)
		}
		values[k] = v
	}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			if !isTrue(from.ConfigMapRef.Optional) {
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
		case from.SecretRef != nil:
			if !isTrue(from.SecretRef.Optional) {
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
		}
	}
	lookup := func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	}
	for _, ev := range c.Env {
		if ev.ValueFrom == nil || ev.Value != "" {
			set(ev.Name, Expand(ev.Value, lookup))
			continue
		}
		v, skip, err := valueFrom(pod, c, ev.ValueFrom, hostIP, podIP, nodeAllocatable)
		if err != nil {
			return nil, fmt.Errorf("env %q: %w", ev.Name, err)
		}
		if !skip {
			set(ev.Name, v)
		}
	}
	out := make([]string, len(names))
	for i, k := range names {
		out[i] = k + "=" + values[k]
	}
	return out, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

func valueFrom(pod *v1.Pod, c *v1.Container, src *v1.EnvVarSource, hostIP, podIP string, alloc v1.ResourceList) (val string, skip bool, err error) {
	switch {
	case src.FieldRef != nil:
		val, err = FieldValue(pod, src.FieldRef, hostIP, podIP)
		return val, false, err
	case src.ResourceFieldRef != nil:
		val, err = ResourceValue(pod, c, src.ResourceFieldRef, alloc)
		return val, false, err
	case src.ConfigMapKeyRef != nil:
		if isTrue(src.ConfigMapKeyRef.Optional) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("configmap %q not found", src.ConfigMapKeyRef.Name)
	case src.SecretKeyRef != nil:
		if isTrue(src.SecretKeyRef.Optional) {
			return "", true, nil
		}
		return "", false, fmt.Errorf("secret %q not found", src.SecretKeyRef.Name)
	}
	return "", false, fmt.Errorf("unsupported valueFrom source")
}

// FieldValue resolves a downward API fieldRef for pod.
func FieldValue(pod *v1.Pod, fs *v1.ObjectFieldSelector, hostIP, podIP string) (string, error) {
	if fs.APIVersion != "" && fs.APIVersion != "v1" {
		return "", fmt.Errorf("unsupported pod version: %s", fs.APIVersion)
	}
	path := fs.FieldPath
	if path == "spec.host" {
		path = "spec.nodeName"
	}
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	}
	return "", fmt.Errorf("field label not supported: %s", fs.FieldPath)
}

// subscript parses prefix['key'] and returns key.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap renders a map as sorted key="value" lines, like the downward API.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return strings.Join(lines, "\n")
}

// ResourceValue resolves a downward API resourceFieldRef. c is the container
// the variable belongs to; fs.ContainerName, when set, names another
// container (or init container) of pod. Unset limits default to
// nodeAllocatable and unset requests to the (explicit) limits.
func ResourceValue(pod *v1.Pod, c *v1.Container, fs *v1.ResourceFieldSelector, nodeAllocatable v1.ResourceList) (string, error) {
	target := c
	if fs.ContainerName != "" {
		target = findContainer(pod, fs.ContainerName)
		if target == nil {
			return "", fmt.Errorf("container %q not found in pod", fs.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(fs.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource: %v", fs.Resource)
	}
	rn := v1.ResourceName(name)
	if rn != v1.ResourceCPU && rn != v1.ResourceMemory && rn != v1.ResourceEphemeralStorage {
		return "", fmt.Errorf("unsupported container resource: %v", fs.Resource)
	}
	q, set := target.Resources.Limits[rn]
	if kind == "requests" {
		if r, hasReq := target.Resources.Requests[rn]; hasReq {
			q, set = r, true
		}
		// else: the request defaults to the explicit limit, or is 0
	} else if !set {
		q, set = nodeAllocatable[rn]
	}
	if !set {
		q = resource.Quantity{}
	}
	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var v float64
	if rn == v1.ResourceCPU {
		v = math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
	} else {
		v = math.Ceil(float64(q.Value()) / float64(divisor.Value()))
	}
	return strconv.FormatInt(int64(v), 10), nil
}

func findContainer(pod *v1.Pod, name string) *v1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}
