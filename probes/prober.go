package probes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/miniagent/miniagent/runtime"
)

// prober runs one probe of a target. An error means the probe could not be
// run at all (it is then neither success nor failure); a failure is an
// outcome with the message the kubelet would put in the Unhealthy event.
type prober interface {
	probe(ctx context.Context, kind ProbeType, t *Target, p *v1.Probe) (outcome, string, error)
}

// execCallSlack is how long past the probe's timeout a runtime Exec call
// may take before the probe counts as timed out.
const execCallSlack = 2 * time.Minute

// handlers is the real prober: exec through an Execer, HTTP, TCP and gRPC
// from inside the pod's network namespace.
type handlers struct {
	exec Execer

	mu   sync.Mutex
	gets map[*v1.Probe]**preparedGet // each HTTP probe's prepared request
}

// forgetter is a prober that keeps state per probe (handlers: the HTTP
// request); a worker tells it when its probe is gone.
type forgetter interface {
	forget(p *v1.Probe)
}

// preparedFor is where the prepared request of HTTP probe p is kept. Only
// p's worker uses it.
func (h *handlers) preparedFor(p *v1.Probe) **preparedGet {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.gets[p]
	if c == nil {
		if h.gets == nil {
			h.gets = map[*v1.Probe]**preparedGet{}
		}
		c = new(*preparedGet)
		h.gets[p] = c
	}
	return c
}

func (h *handlers) forget(p *v1.Probe) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.gets, p)
}

func (h *handlers) probe(ctx context.Context, kind ProbeType, t *Target, p *v1.Probe) (outcome, string, error) {
	timeout := seconds(p.TimeoutSeconds)
	if timeout <= 0 {
		timeout = time.Second
	}
	c := t.Container
	if c == nil {
		c = &v1.Container{Name: t.ContainerName}
	}
	switch {
	case p.Exec != nil:
		return h.probeExec(ctx, t, c, p.Exec, timeout)
	case p.HTTPGet != nil:
		port, err := resolvePort(p.HTTPGet.Port, c)
		if err != nil {
			return 0, "", err
		}
		return probeHTTP(ctx, t.NetNSPath, h.preparedFor(p), defaultHost(p.HTTPGet.Host, t.PodIP), port, p.HTTPGet, timeout)
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return 0, "", err
		}
		return probeTCP(ctx, t.NetNSPath, defaultHost(p.TCPSocket.Host, t.PodIP), port, timeout)
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return probeGRPC(ctx, t.NetNSPath, defaultHost("", t.PodIP), int(p.GRPC.Port), service, timeout)
	}
	return 0, "", fmt.Errorf("missing probe handler for %s/%s:%s", t.Namespace, t.PodName, t.ContainerName)
}

func (h *handlers) probeExec(ctx context.Context, t *Target, c *v1.Container, a *v1.ExecAction, timeout time.Duration) (outcome, string, error) {
	if h.exec == nil {
		return 0, "", errors.New("exec probes are not supported: no exec runner")
	}
	cmd := expandCommand(a.Command, c.Env)
	// The Execer enforces timeout itself, from the start of the command's
	// process; the context only guards against a runtime call that hangs.
	// Its slack is the kubelet's (timeout plus its 2 min runtime request
	// timeout): a slack of seconds made a saturated runtime's slow set-up
	// of the exec count as the command timing out.
	ctx, cancel := context.WithTimeout(ctx, timeout+execCallSlack)
	defer cancel()
	res, err := h.exec.Exec(ctx, t.ContainerID, cmd, timeout, maxOutput)
	if errors.Is(err, runtime.ErrExecTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return outcomeFailure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
	}
	if err != nil {
		return 0, "", err
	}
	out := res.Output
	if len(out) > maxOutput {
		out = out[:maxOutput]
	}
	if res.ExitCode != 0 {
		return outcomeFailure, string(out), nil
	}
	return outcomeSuccess, string(out), nil
}

func defaultHost(host, podIP string) string {
	if host != "" {
		return host
	}
	if podIP != "" {
		return podIP
	}
	return "127.0.0.1"
}

// resolvePort turns a probe's port (number or name of a container port) into
// a port number.
func resolvePort(p intstr.IntOrString, c *v1.Container) (int, error) {
	port := -1
	if p.Type == intstr.String {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				port = int(cp.ContainerPort)
				break
			}
		}
		if port == -1 {
			if n, err := strconv.Atoi(p.StrVal); err == nil {
				port = n
			} else {
				return 0, fmt.Errorf("couldn't find port: %v in %v", p.StrVal, c.Name)
			}
		}
	} else {
		port = p.IntValue()
	}
	if port <= 0 || port > 65535 {
		return 0, fmt.Errorf("invalid port number: %v", port)
	}
	return port, nil
}

// expandCommand replaces $(VAR) with the value of the container's env var VAR
// when it is a literal value; "$$" is an escaped "$". Unknown references
// stay as they are, like the kubelet's expansion of probe commands.
func expandCommand(cmd []string, env []v1.EnvVar) []string {
	vars := map[string]string{}
	for _, e := range env {
		if e.ValueFrom == nil {
			vars[e.Name] = e.Value
		}
	}
	out := make([]string, len(cmd))
	for i, s := range cmd {
		out[i] = expand(s, vars)
	}
	return out
}

func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
