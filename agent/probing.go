package agent

import (
	"context"
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
// KillForProbe, Event and the onChange callback.
func (a *Agent) startProber() {
	a.prober = probes.NewManager(a.rt, a.clock, probeEvents{a}, a, func(podUID string) {
		uid := types.UID(podUID)
		a.publish(uid)
		a.mu.Lock()
		w := a.workers[uid]
		a.mu.Unlock()
		if w != nil {
			w.poke()
		}
	}, a.log)
}

// probeTarget describes a running instance to the prober.
func (a *Agent) probeTarget(pod *v1.Pod, c *v1.Container, isInit bool, in *instance, sbNetNS string) probes.Target {
	policy := pod.Spec.RestartPolicy
	if isInit && isSidecar(c) {
		policy = v1.RestartPolicyAlways
	}
	var grace int64 = 30
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	podIP := ""
	if pod.Spec.HostNetwork {
		podIP = a.node.hostIP
	}
	return probes.Target{
		PodUID: string(pod.UID), Namespace: pod.Namespace, PodName: pod.Name,
		ContainerName: c.Name, ContainerID: in.ID, Container: c.DeepCopy(),
		StartedAt: in.StartedAt, NetNSPath: sbNetNS, PodIP: podIP,
		PodGracePeriod: grace, RestartPolicy: policy,
	}
}

// watchProbes registers a started instance with the prober.
func (a *Agent) watchProbes(pod *v1.Pod, name string, in *instance) {
	if a.prober == nil {
		return
	}
	c, isInit := findContainer(pod, name)
	if c == nil || (isInit && !isSidecar(c)) {
		// Regular init containers have no probes.
		if c != nil {
			a.prober.AddContainer(probes.Target{PodUID: string(pod.UID), ContainerName: name, ContainerID: in.ID, Container: &v1.Container{Name: name}, StartedAt: in.StartedAt})
		}
		return
	}
	a.mu.Lock()
	netns := ""
	if rec := a.pods[pod.UID]; rec != nil && rec.Sandbox != nil {
		netns = rec.Sandbox.NetNSPath
	}
	a.mu.Unlock()
	a.prober.AddContainer(a.probeTarget(pod, c, isInit, in, netns))
}

// KillForProbe implements probes.LivenessHandler: the container is stopped
// with the given grace period and then restarted by the restart policy.
func (a *Agent) KillForProbe(podUID, containerID, containerName, probeType string, grace time.Duration, message string) {
	a.mu.Lock()
	rec := a.pods[types.UID(podUID)]
	a.mu.Unlock()
	if rec == nil {
		return
	}
	a.events.normal(rec.Pod, "Killing", message)
	if grace < 2*time.Second {
		grace = 2 * time.Second // kubelet's floor for probe kills
	}
	go func() {
		ctx, cancel := context.WithTimeout(a.runCtx, grace+30*time.Second)
		defer cancel()
		if err := a.rt.StopContainer(ctx, containerID, 0, grace); err != nil {
			a.log.Warn("stop container for failed probe", "pod", podFullName(rec.Pod), "container", containerName, "err", err)
		}
	}()
}

// probeEvents adapts the event store to probes.EventRecorder.
type probeEvents struct{ a *Agent }

func (p probeEvents) Event(podUID, eventType, reason, message string) {
	p.a.mu.Lock()
	rec := p.a.pods[types.UID(podUID)]
	p.a.mu.Unlock()
	if rec != nil {
		p.a.events.record(rec.Pod, eventType, reason, message)
	}
}
