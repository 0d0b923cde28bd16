package admission

import (
	v1 "k8s.io/api/core/v1"
)

// bindAll is the host IP a port without hostIP binds to.
const bindAll = "0.0.0.0"

// hostPort is one port a pod takes on the host.
type hostPort struct {
	ip       string
	protocol v1.Protocol
	port     int32
}

// HostPorts returns the host ports the pod takes: those of its app
// containers and sidecars (init containers with restartPolicy Always, which
// run for the pod's whole life), with hostIP defaulting to 0.0.0.0 and
// protocol to TCP. Ports without hostPort take nothing on the host.
func HostPorts(pod *v1.Pod) []v1.ContainerPort {
	var out []v1.ContainerPort
	add := func(c *v1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			if p.HostIP == "" {
				p.HostIP = bindAll
			}
			if p.Protocol == "" {
				p.Protocol = v1.ProtocolTCP
			}
			out = append(out, p)
		}
	}
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			add(&pod.Spec.InitContainers[i])
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	return out
}

// conflicts reports whether two host ports cannot both be bound: same
// protocol and port, and the same IP or either binding all addresses.
func (a hostPort) conflicts(b hostPort) bool {
	if a.protocol != b.protocol || a.port != b.port {
		return false
	}
	return a.ip == b.ip || a.ip == bindAll || b.ip == bindAll
}

func toHostPorts(pod *v1.Pod) []hostPort {
	var out []hostPort
	for _, p := range HostPorts(pod) {
		out = append(out, hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort})
	}
	return out
}

// portsFit is the scheduler's NodePorts filter: no host port of the pod may
// conflict with one taken by an existing pod.
func portsFit(pod *v1.Pod, existing []*v1.Pod) bool {
	want := toHostPorts(pod)
	if len(want) == 0 {
		return true
	}
	for _, p := range others(pod, existing) {
		for _, used := range toHostPorts(p) {
			for _, w := range want {
				if w.conflicts(used) {
					return false
				}
			}
		}
	}
	return true
}
