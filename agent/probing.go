package agent

import (
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/probes"
)

// proberAPI is the part of probes.Manager the agent drives.
type proberAPI interface {
	readiness
	AddContainer(t probes.Target)
	RemoveContainer(containerID string)
	RemovePod(podUID string)
}

// startProber creates the probe manager; results come back through
// KillForProbe, Event and the onChange callback, each a request to the
// pod's worker.
func (a *Agent) startProber() {
	m := probes.NewManager(a.rt, a.clock, probeEvents{a}, a, func(podUID string) {
		if w := a.worker(types.UID(podUID)); w != nil {
			w.poke()
		}
	}, a.log)
	a.observeProbes(m)
	a.prober = m
}

// probeTarget describes a running instance to the prober.
func (a *Agent) probeTarget(pod *v1.Pod, c *v1.Container, isInit bool, in *instance, sbNetNS string) probes.Target {
	policy := pod.Spec.RestartPolicy
	if isInit && isSidecar(c) {
		policy = v1.RestartPolicyAlways
	}
	podIP := ""
	if pod.Spec.HostNetwork {
		podIP = a.node.hostIP
	}
	return probes.Target{
		PodUID: string(pod.UID), Namespace: pod.Namespace, PodName: pod.Name,
		ContainerName: c.Name, ContainerID: in.ID, Container: c.DeepCopy(),
		StartedAt: in.StartedAt, NetNSPath: sbNetNS, PodIP: podIP,
		PodGracePeriod: int64(gracePeriod(pod, nil).Seconds()), RestartPolicy: policy,
	}
}

// watchProbes registers a started instance with the prober; the pod's
// worker calls it.
func (a *Agent) watchProbes(rec *podRecord, name string, in *instance) {
	if a.prober == nil {
		return
	}
	pod := rec.Pod
	c, isInit := findContainer(pod, name)
	if c == nil || (isInit && !isSidecar(c)) {
		// Regular init containers have no probes.
		if c != nil {
			a.prober.AddContainer(probes.Target{PodUID: string(pod.UID), ContainerName: name, ContainerID: in.ID, Container: &v1.Container{Name: name}, StartedAt: in.StartedAt})
		}
		return
	}
	netns := ""
	if rec.Sandbox != nil {
		netns = rec.Sandbox.NetNSPath
	}
	a.prober.AddContainer(a.probeTarget(pod, c, isInit, in, netns))
}

// KillForProbe implements probes.LivenessHandler: it asks the pod's worker
// to stop the container with the given grace period; the restart policy
// then decides.
func (a *Agent) KillForProbe(podUID, containerID, containerName, probeType string, grace time.Duration, message string) {
	if w := a.worker(types.UID(podUID)); w != nil {
		w.requestKill(killRequest{ContainerID: containerID, Name: containerName, Grace: grace, Message: message})
	}
}

// probeEvents adapts the event store to probes.EventRecorder.
type probeEvents struct{ a *Agent }

func (p probeEvents) Event(podUID, container, eventType, reason, message string) {
	if s := p.a.snapshot(types.UID(podUID)); s != nil {
		p.a.events.record(s.pod, container, eventType, reason, message)
	}
}
