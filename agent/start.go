package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/agent/envvar"
	"github.com/miniagent/miniagent/agent/spec"
	"github.com/miniagent/miniagent/cgroups"
	"github.com/miniagent/miniagent/oom"
	"github.com/miniagent/miniagent/runtime"
)

// findContainer returns the spec of a container (init or app) by name.
func findContainer(pod *v1.Pod, name string) (*v1.Container, bool) {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], true
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], false
		}
	}
	return nil, false
}

func newContainerID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// failStart records why a container could not be started and arms the
// failure back-off.
func (w *podWorker) failStart(name, reason, message string) {
	now := w.a.clock.Now()
	c := w.rec.Containers[name]
	c.Waiting = &waiting{Reason: reason, Message: message}
	c.FailBackoff = c.FailBackoff.next(now)
	c.FailedAt = now
}

// transient tells whether a runtime error means the runtime is away (or
// was restarted under the call) rather than the container being wrong.
func (w *podWorker) transient(ctx context.Context, err error) bool {
	if errors.Is(err, runtime.ErrUnavailable) {
		return true
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return w.a.rt.Healthy(hctx) != nil
}

// startContainer makes a new instance of container name and starts it:
// image, spec, create, checkpoint, start. It reports whether an instance
// was created and started (or failed to start for good).
func (w *podWorker) startContainer(ctx context.Context, name string) bool {
	a, rec := w.a, w.rec
	pod := rec.Pod
	cspec, isInit := findContainer(pod, name)
	if cspec == nil {
		return false
	}
	c := rec.container(name, isInit)
	// An instance that never started is replaced under the same attempt.
	replacing := c.Current.neverStarted()
	if replacing && !c.Current.Removed {
		if !w.removeContainer(ctx, c.Current.ID) {
			return false
		}
	}
	attempt := c.RestartCount
	if c.Current != nil && !replacing {
		attempt++
	}

	info, ok := w.ensureImage(ctx, pod, cspec)
	if !ok {
		return false
	}
	rs, err := a.containerSpec(pod, cspec, isInit, attempt, info, rec.Sandbox)
	if err != nil {
		a.events.containerWarn(pod, name, "Failed", "Error: "+err.Error())
		w.failStart(name, ReasonCreateContainerConfigError, err.Error())
		return false
	}
	if err := a.rt.CreateContainer(ctx, rs); err != nil {
		a.events.containerWarn(pod, name, "Failed", "Error: "+err.Error())
		w.failStart(name, ReasonCreateContainerError, err.Error())
		// The runtime may have made part of it before failing.
		if !w.removeContainer(ctx, rs.ID) {
			w.forgetLater(rs.ID)
		}
		return false
	}
	a.events.containerNormal(pod, name, "Created", "Created container "+name)
	if a.opts.Cgroups != nil {
		if err := a.opts.Cgroups.ConfigureContainer(rs.CgroupsPath); err != nil {
			a.log.Warn("configure container cgroup", "pod", podFullName(pod), "container", name, "err", err)
		}
	}

	now := a.clock.Now()
	inst := &instance{
		ID: rs.ID, Attempt: attempt, Image: cspec.Image, ImageRef: info.Ref, ImageID: info.ID,
		LogPath: rs.LogPath, CreatedAt: now,
	}
	var dropped *instance
	if c.Current != nil && !replacing {
		switch {
		case c.Current.Replaced:
			// A new spec: kubelet's back-off is keyed by the container's
			// spec, so it starts afresh.
			c.Backoff = backoff{}
		case c.Current.Exited:
			// A restart after an exit: kubelet's crash-loop back-off step.
			c.Backoff = c.Backoff.next(now)
		}
		dropped = c.Last
		c.Last = c.Current
		c.RestartCount = attempt
	}
	c.Current = inst
	// The new container exists: created, not started, waiting with no
	// reason (a back-off or an earlier failure is over).
	c.Waiting = nil
	w.checkpoint() // before start, so a restarted agent finds it
	w.publish()    // created, not started: waiting with no reason

	if dropped != nil && !dropped.Removed && !w.removeContainer(ctx, dropped.ID) {
		w.forgetLater(dropped.ID)
	}

	startedAt, err := a.rt.StartContainer(ctx, rs.ID)
	now = a.clock.Now()
	if err != nil {
		a.events.containerWarn(pod, name, "Failed", "Error: "+err.Error())
		if w.transient(ctx, err) {
			// The runtime went away: not the container's failure. It waits
			// and is made again once the runtime answers.
			w.failStart(name, ReasonRunContainerError, err.Error())
			if !w.removeContainer(ctx, rs.ID) {
				w.forgetLater(rs.ID)
				inst.Removed = true
			}
			return false
		}
		inst.Exited, inst.ExitCode, inst.Reason, inst.Message = true, 128, "StartError", err.Error()
		inst.StartedAt, inst.FinishedAt = now, now
		c.Waiting, c.FailedAt, c.FailBackoff = nil, time.Time{}, backoff{}
		return true
	}
	if inst.StartedAt = startedAt; startedAt.IsZero() {
		inst.StartedAt = now
	}
	c.Waiting, c.FailedAt, c.FailBackoff = nil, time.Time{}, backoff{}
	a.events.containerNormal(pod, name, "Started", "Started container "+name)
	a.opts.Metrics.ContainerStarted(isInit)
	w.probing[inst.ID] = true
	a.watchProbes(rec, name, inst)
	return true
}

// ensureImage makes the container's image present according to its pull
// policy, recording kubelet's events and waiting reasons.
func (w *podWorker) ensureImage(ctx context.Context, pod *v1.Pod, c *v1.Container) (runtime.ImageInfo, bool) {
	a := w.a
	ref, err := spec.NormalizeImage(c.Image)
	if err != nil {
		msg := fmt.Sprintf("Failed to apply default image tag %q: %v", c.Image, err)
		a.events.containerWarn(pod, c.Name, "InspectFailed", msg)
		w.failStart(c.Name, ReasonInvalidImageName, msg)
		return runtime.ImageInfo{}, false
	}
	if c.ImagePullPolicy != v1.PullAlways {
		info, err := a.rt.ImageStatus(ctx, ref)
		if err == nil {
			a.events.containerNormal(pod, c.Name, "Pulled", presentMessage(c.Image))
			return info, true
		}
		if !errors.Is(err, runtime.ErrNotFound) {
			w.failStart(c.Name, ReasonCreateContainerError, err.Error())
			return runtime.ImageInfo{}, false
		}
		if c.ImagePullPolicy == v1.PullNever {
			msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
			a.events.containerWarn(pod, c.Name, "ErrImageNeverPull", msg)
			w.failStart(c.Name, ReasonErrImageNeverPull, msg)
			return runtime.ImageInfo{}, false
		}
	}
	// Kubelet's order: the Pulling event, the (queued) pull, then Pulled
	// with the pull's own time and the time since it was asked for.
	a.events.containerNormal(pod, c.Name, "Pulling", pullingMessage(c.Image))
	start := a.clock.Now()
	res := a.puller.pull(ctx, ref, nil)
	a.opts.Metrics.ImagePulled(pod.UID, start, a.clock.Now())
	if res.err != nil {
		a.events.containerWarn(pod, c.Name, "Failed", pullFailedMessage(c.Image, res.err))
		a.events.containerWarn(pod, c.Name, "Failed", "Error: "+ReasonErrImagePull)
		w.failStart(c.Name, ReasonErrImagePull, res.err.Error())
		return runtime.ImageInfo{}, false
	}
	a.events.containerNormal(pod, c.Name, "Pulled", pulledMessage(c.Image, res.pull, res.total, res.info.Size))
	return res.info, true
}

// containerSpec turns a container of a pod into the runtime's spec.
func (a *Agent) containerSpec(pod *v1.Pod, c *v1.Container, isInit bool, attempt int32, img runtime.ImageInfo, sb *runtime.Sandbox) (runtime.ContainerSpec, error) {
	hostIP := a.node.hostIP
	podIP := ""
	if pod.Spec.HostNetwork {
		podIP = hostIP
	}
	env, err := envvar.ContainerEnv(pod, c, hostIP, podIP)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	mounts, err := a.containerMounts(pod, c)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	hostname, err := podHostname(pod)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	id := newContainerID()
	qos := cgroups.QOSClass(pod)
	score := oom.Clamp(oom.PolicyScore(pod, c, qos, a.node.memoryCapacity), a.node.oomFloor)
	vals := cgroups.ForContainer(c)
	rs := runtime.ContainerSpec{
		ID: id,
		Labels: map[string]string{
			runtime.LabelPodUID:        string(pod.UID),
			runtime.LabelPodNamespace:  pod.Namespace,
			runtime.LabelPodName:       pod.Name,
			runtime.LabelContainerName: c.Name,
			runtime.LabelAttempt:       strconv.Itoa(int(attempt)),
		},
		Image:       img.Ref,
		Env:         env,
		WorkingDir:  c.WorkingDir,
		Mounts:      mounts,
		Hostname:    hostname,
		CgroupsPath: a.containerCgroupPath(pod, id),
		OOMScoreAdj: &score,
		Resources: runtime.Resources{
			MemoryLimit: vals.MemoryLimit, CPUShares: vals.CPUShares,
			CPUQuota: vals.CPUQuota, CPUPeriod: vals.CPUPeriod,
		},
		LogPath: filepath.Join(a.podLogDir(pod), c.Name, fmt.Sprintf("%d.log", attempt)),
	}
	if isInit {
		rs.Labels[runtime.LabelInit] = "true"
	}
	rs.Stdin, rs.StdinOnce, rs.TTY = c.Stdin, c.Stdin && c.StdinOnce, c.Stdin && c.TTY
	if c.Command != nil {
		rs.Command = envvar.ExpandCommand(c.Command, env)
	}
	if c.Args != nil {
		rs.Args = envvar.ExpandCommand(c.Args, env)
	}
	if sb != nil {
		rs.Sandbox = *sb
	}
	if err := applySecurityContext(&rs, pod, c, img.User, filepath.Join(a.opts.RootDir, "seccomp")); err != nil {
		return runtime.ContainerSpec{}, err
	}
	return rs, nil
}

// podCgroupParent is the pod-level cgroup path of a pod.
func (a *Agent) podCgroupParent(pod *v1.Pod) string {
	return cgroups.PodPath(a.opts.CgroupRoot, cgroups.QOSClass(pod), string(pod.UID))
}

// containerCgroupPath is the cgroup of one container instance, below its pod's.
func (a *Agent) containerCgroupPath(pod *v1.Pod, id string) string {
	return a.podCgroupParent(pod) + "/" + id
}

// podLogDir is /var/log/pods/<ns>_<name>_<uid>.
func (a *Agent) podLogDir(pod *v1.Pod) string {
	return filepath.Join(a.opts.PodLogsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}
