package cli

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
)

func describeContainers(o *out, title string, containers []v1.Container, statuses []v1.ContainerStatus) {
	byName := map[string]v1.ContainerStatus{}
	for _, s := range statuses {
		byName[s.Name] = s
	}
	o.line(0, "%s:\n", title)
	for _, c := range containers {
		st, ok := byName[c.Name]
		o.line(1, "%s:\n", c.Name)
		if ok {
			o.line(2, "Container ID:\t%s\n", st.ContainerID)
		}
		o.line(2, "Image:\t%s\n", c.Image)
		if ok {
			o.line(2, "Image ID:\t%s\n", st.ImageID)
		}
		describePorts(o, c.Ports)
		for _, list := range []struct {
			name  string
			items []string
		}{{"Command", c.Command}, {"Args", c.Args}} {
			if len(list.items) == 0 {
				continue
			}
			o.line(2, "%s:\n", list.name)
			for _, item := range list.items {
				for _, s := range strings.Split(item, "\n") {
					o.line(3, "%s\n", s)
				}
			}
		}
		if ok {
			describeState(o, "State", st.State)
			if st.LastTerminationState.Terminated != nil {
				describeState(o, "Last State", st.LastTerminationState)
			}
			o.line(2, "Ready:\t%s\n", boolText(st.Ready))
			o.line(2, "Restart Count:\t%d\n", st.RestartCount)
		}
		describeResources(o, "Limits", c.Resources.Limits)
		describeResources(o, "Requests", c.Resources.Requests)
		for _, p := range []struct {
			name  string
			probe *v1.Probe
		}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
			if p.probe != nil {
				o.line(2, "%s:\t%s\n", p.name, describeProbe(p.probe))
			}
		}
		describeEnv(o, c.Env)
		describeMounts(o, c.VolumeMounts)
	}
}

func describePorts(o *out, ports []v1.ContainerPort) {
	var cp, hp []string
	for _, p := range ports {
		cp = append(cp, fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol))
		hp = append(hp, fmt.Sprintf("%d/%s", p.HostPort, p.Protocol))
	}
	switch len(ports) {
	case 0:
		o.line(2, "Port:\t<none>\n")
		o.line(2, "Host Port:\t<none>\n")
	case 1:
		o.line(2, "Port:\t%s\n", cp[0])
		o.line(2, "Host Port:\t%s\n", hp[0])
	default:
		o.line(2, "Ports:\t%s\n", strings.Join(cp, ", "))
		o.line(2, "Host Ports:\t%s\n", strings.Join(hp, ", "))
	}
}

func describeState(o *out, name string, s v1.ContainerState) {
	switch {
	case s.Running != nil:
		o.line(2, "%s:\tRunning\n", name)
		o.line(3, "Started:\t%s\n", stamp(s.Running.StartedAt.Time))
	case s.Terminated != nil:
		t := s.Terminated
		o.line(2, "%s:\tTerminated\n", name)
		if t.Reason != "" {
			o.line(3, "Reason:\t%s\n", t.Reason)
		}
		if t.Message != "" {
			o.line(3, "Message:\t%s\n", t.Message)
		}
		o.line(3, "Exit Code:\t%d\n", t.ExitCode)
		if t.Signal > 0 {
			o.line(3, "Signal:\t%d\n", t.Signal)
		}
		o.line(3, "Started:\t%s\n", stamp(t.StartedAt.Time))
		o.line(3, "Finished:\t%s\n", stamp(t.FinishedAt.Time))
	default:
		o.line(2, "%s:\tWaiting\n", name)
		if s.Waiting != nil && s.Waiting.Reason != "" {
			o.line(3, "Reason:\t%s\n", s.Waiting.Reason)
		}
	}
}

func boolText(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func describeResources(o *out, title string, rl v1.ResourceList) {
	if len(rl) == 0 {
		return
	}
	o.line(2, "%s:\n", title)
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		q := rl[v1.ResourceName(n)]
		o.line(3, "%s:\t%s\n", n, q.String())
	}
}

// describeProbe renders a probe like kubectl: the action, then its timings.
func describeProbe(p *v1.Probe) string {
	attrs := fmt.Sprintf("delay=%ds timeout=%ds period=%ds #success=%d #failure=%d",
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
	switch {
	case p.Exec != nil:
		return fmt.Sprintf("exec %v %s", p.Exec.Command, attrs)
	case p.HTTPGet != nil:
		u := &url.URL{Scheme: strings.ToLower(string(p.HTTPGet.Scheme)), Path: p.HTTPGet.Path}
		if port := p.HTTPGet.Port.String(); port != "" {
			u.Host = net.JoinHostPort(p.HTTPGet.Host, port)
		} else {
			u.Host = p.HTTPGet.Host
		}
		return fmt.Sprintf("http-get %s %s", u.String(), attrs)
	case p.TCPSocket != nil:
		return fmt.Sprintf("tcp-socket %s:%s %s", p.TCPSocket.Host, p.TCPSocket.Port.String(), attrs)
	case p.GRPC != nil:
		svc := ""
		if p.GRPC.Service != nil {
			svc = *p.GRPC.Service
		}
		return fmt.Sprintf("grpc <pod>:%d %s %s", p.GRPC.Port, svc, attrs)
	}
	return "unknown " + attrs
}

func describeEnv(o *out, env []v1.EnvVar) {
	if len(env) == 0 {
		o.line(2, "Environment:\t<none>\n")
		return
	}
	o.line(2, "Environment:\n")
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			for i, s := range strings.Split(e.Value, "\n") {
				if i == 0 {
					o.line(3, "%s:\t%s\n", e.Name, s)
				} else {
					o.line(3, "\t%s\n", s)
				}
			}
		case e.ValueFrom.FieldRef != nil:
			o.line(3, "%s:\t (%s:%s)\n", e.Name, e.ValueFrom.FieldRef.APIVersion, e.ValueFrom.FieldRef.FieldPath)
		case e.ValueFrom.ResourceFieldRef != nil:
			o.line(3, "%s:\t%s (%s)\n", e.Name, e.ValueFrom.ResourceFieldRef.Resource, e.ValueFrom.ResourceFieldRef.ContainerName)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			o.line(3, "%s:\t<set to the key '%s' of config map '%s'>\n", e.Name, e.ValueFrom.ConfigMapKeyRef.Key, e.ValueFrom.ConfigMapKeyRef.Name)
		case e.ValueFrom.SecretKeyRef != nil:
			o.line(3, "%s:\t<set to the key '%s' in secret '%s'>\n", e.Name, e.ValueFrom.SecretKeyRef.Key, e.ValueFrom.SecretKeyRef.Name)
		}
	}
}

func describeMounts(o *out, mounts []v1.VolumeMount) {
	if len(mounts) == 0 {
		o.line(2, "Mounts:\t<none>\n")
		return
	}
	o.line(2, "Mounts:\n")
	sorted := append([]v1.VolumeMount(nil), mounts...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].MountPath < sorted[j].MountPath })
	for _, m := range sorted {
		flags := []string{"rw"}
		if m.ReadOnly {
			flags[0] = "ro"
		}
		if m.SubPath != "" {
			flags = append(flags, fmt.Sprintf("path=%q", m.SubPath))
		}
		o.line(3, "%s from %s (%s)\n", m.MountPath, m.Name, strings.Join(flags, ","))
	}
}
