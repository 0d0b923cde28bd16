package probes

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/runtime"
)

// ProbeType names a kind of probe the way the kubelet prints it in events.
type ProbeType string

const (
	Liveness  ProbeType = "Liveness"
	Readiness ProbeType = "Readiness"
	Startup   ProbeType = "Startup"
)

// Event reasons used by the probes, as the kubelet spells them.
const (
	ReasonUnhealthy    = "Unhealthy"
	ReasonProbeWarning = "ProbeWarning"
)

// Event types.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// maxOutput is how much of a probe's output (exec output, HTTP body) is read.
const maxOutput = 10 * 1024

// userAgent is sent by HTTP and gRPC probes unless the pod sets its own.
const userAgent = "kube-probe/1.33"

// Target is one running container instance whose probes the Manager runs.
type Target struct {
	PodUID        string
	Namespace     string
	PodName       string
	ContainerName string
	ContainerID   string // runtime ID of this instance; the key of all Manager calls
	// Container carries the probes (defaults applied) and the ports that
	// named probe ports refer to; Env is used for $(VAR) in exec commands.
	Container *v1.Container
	StartedAt time.Time // when the instance started; initialDelaySeconds counts from here
	NetNSPath string    // the pod's network namespace file; "" = the host's
	PodIP     string    // default host of HTTP/TCP probes, the host of gRPC probes; "" = 127.0.0.1
	// PodGracePeriod is the pod's terminationGracePeriodSeconds, used for a
	// probe kill unless the probe sets its own.
	PodGracePeriod int64
	// RestartPolicy is the effective policy of this container (the pod's, or
	// Always for a sidecar init container). "" counts as Always. It only
	// decides whether KillForProbe's message ends in ", will be restarted".
	RestartPolicy v1.RestartPolicy
}

// Execer runs a command in a container. runtime.Runtime satisfies it. Past
// timeout the command is killed and an error wrapping runtime.ErrExecTimeout
// is returned.
type Execer interface {
	Exec(ctx context.Context, id string, cmd []string, timeout time.Duration, maxOutput int) (runtime.ExecResult, error)
}

// LivenessHandler is told when a container must be killed because its
// liveness or startup probe failed failureThreshold times in a row. It is
// called once per container instance, from the probe's worker goroutine;
// it may call back into the Manager (RemoveContainer does not wait), but
// must not call Manager.Stop, which waits for that very goroutine.
// probeType is "Liveness" or "Startup"; grace is the probe's
// terminationGracePeriodSeconds if set, else the pod's; message is the
// kubelet's text for the Killing event, e.g.
// "Container web failed liveness probe, will be restarted".
type LivenessHandler interface {
	KillForProbe(podUID, containerID, containerName string, probeType string, grace time.Duration, message string)
}

// EventRecorder records a Kubernetes event about a container of a pod.
// eventType is "Normal" or "Warning".
type EventRecorder interface {
	Event(podUID, container, eventType, reason, message string)
}

// result is the published state of one probe.
type result int

const (
	resultUnknown result = iota
	resultSuccess
	resultFailure
)

func (r result) String() string {
	switch r {
	case resultSuccess:
		return "success"
	case resultFailure:
		return "failure"
	}
	return "unknown"
}

// outcome is what one run of a handler says.
type outcome int

const (
	outcomeSuccess outcome = iota + 1
	outcomeWarning         // success, but worth a warning event (e.g. a redirect to another host)
	outcomeFailure
)

// withDefaults returns a copy of p with the API defaults filled in where the
// caller left zero or nonsense values.
func withDefaults(kind ProbeType, p *v1.Probe) *v1.Probe {
	c := p.DeepCopy()
	if c.TimeoutSeconds < 1 {
		c.TimeoutSeconds = 1
	}
	if c.PeriodSeconds < 1 {
		c.PeriodSeconds = 10
	}
	if c.SuccessThreshold < 1 || kind != Readiness {
		// liveness and startup probes must have successThreshold 1
		c.SuccessThreshold = 1
	}
	if c.FailureThreshold < 1 {
		c.FailureThreshold = 3
	}
	if c.InitialDelaySeconds < 0 {
		c.InitialDelaySeconds = 0
	}
	return c
}

func seconds(n int32) time.Duration { return time.Duration(n) * time.Second }
