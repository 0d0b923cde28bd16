package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/portforward"
)

// portSpec is one [LOCAL:]REMOTE argument of port-forward.
type portSpec struct {
	local  uint16 // 0: a free port chosen when listening
	remote string // a number, or a container port's name
}

// parsePortSpecs reads port-forward's port arguments as kubectl does:
// "8080" (the same port on both sides), "8080:80", ":80" (a free local
// port); REMOTE may name a container port.
func parsePortSpecs(args []string) ([]portSpec, error) {
	if len(args) == 0 {
		return nil, errors.New("at least 1 PORT is required for port-forward")
	}
	var out []portSpec
	for _, arg := range args {
		local, remote, hasLocal := strings.Cut(arg, ":")
		if !hasLocal {
			local, remote = "", arg
		}
		if remote == "" {
			return nil, fmt.Errorf("invalid port %q: the remote port is missing", arg)
		}
		var s portSpec
		if local != "" {
			n, err := strconv.ParseUint(local, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("invalid port %q: local port %q is not a number between 0 and 65535", arg, local)
			}
			s.local = uint16(n)
		}
		if n, err := strconv.ParseUint(remote, 10, 16); err == nil {
			if n == 0 {
				return nil, fmt.Errorf("invalid port %q: remote port must be > 0", arg)
			}
			if !hasLocal {
				s.local = uint16(n)
			}
		} else if !validPortName(remote) {
			return nil, fmt.Errorf("invalid port %q: remote port %q is neither a number between 1 and 65535 nor a port name", arg, remote)
		} else if !hasLocal {
			return nil, fmt.Errorf("invalid port %q: a named port needs a local port (LOCAL:%s)", arg, remote)
		}
		s.remote = remote
		out = append(out, s)
	}
	return out, nil
}

// validPortName: an IANA service name as Kubernetes allows for ports.
func validPortName(s string) bool {
	if len(s) == 0 || len(s) > 15 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	letter := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			letter = true
		case r >= '0' && r <= '9', r == '-':
		default:
			return false
		}
	}
	return letter
}

// resolvePorts turns port names into the pod's container port numbers
// and renders the specs as client-go's portforward takes them.
func resolvePorts(pod *v1.Pod, specs []portSpec) ([]string, error) {
	out := make([]string, 0, len(specs))
	for _, s := range specs {
		remote := s.remote
		if _, err := strconv.Atoi(remote); err != nil {
			found := false
			for _, c := range pod.Spec.Containers {
				for _, p := range c.Ports {
					if p.Name == remote {
						remote, found = strconv.Itoa(int(p.ContainerPort)), true
					}
				}
			}
			if !found {
				return nil, fmt.Errorf("pod %s does not have a named port '%s'", pod.Name, s.remote)
			}
		}
		local := ""
		if s.local != 0 {
			local = strconv.Itoa(int(s.local))
		}
		out = append(out, local+":"+remote)
	}
	return out, nil
}

// portForward listens on 127.0.0.1 and forwards each connection into the
// pod's network namespace, like `kubectl port-forward`, until Ctrl-C.
func (a *app) portForward(ctx context.Context, args []string) int {
	fs := a.flagSet("port-forward")
	addrs := fs.StringSlice("address", []string{"127.0.0.1"}, "local addresses to listen on (loopback only)")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	if len(rest) < 2 {
		return a.fail(errors.New("TYPE/NAME and list of ports are required for port-forward"))
	}
	name, err := podArg(rest[0])
	if err != nil {
		return a.fail(err)
	}
	for _, ad := range *addrs {
		if ad != "127.0.0.1" && ad != "localhost" && ad != "::1" {
			return a.fail(fmt.Errorf("--address %s: port-forward listens on loopback only (127.0.0.1, ::1, localhost)", ad))
		}
	}
	specs, err := parsePortSpecs(rest[1:])
	if err != nil {
		return a.fail(err)
	}
	pod, err := a.client().GetPod(ctx, a.namespace, name)
	if err != nil {
		return a.fail(err)
	}
	if pod.Status.Phase != v1.PodRunning {
		return a.fail(fmt.Errorf("unable to forward port because pod is not running. Current status=%v", pod.Status.Phase))
	}
	ports, err := resolvePorts(pod, specs)
	if err != nil {
		return a.fail(err)
	}
	dialer, err := spdyDialer(a.socket, streamURL(a.namespace, name, "portforward", url.Values{}))
	if err != nil {
		return a.fail(err)
	}
	pf, err := portforward.NewOnAddressesForStreamingWithContext(ctx, dialer, *addrs, ports, nil, a.stdout, a.stderr)
	if err != nil {
		return a.fail(err)
	}
	if err := pf.ForwardPorts(); err != nil && ctx.Err() == nil {
		return a.fail(err)
	}
	return 0
}
