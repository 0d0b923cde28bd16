package probes

import (
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
)

// netPlan is what the network loop (netloop.go) needs to run one probe,
// worked out once when its worker is made: the address, the namespace,
// the timeout and, for HTTP, the request on the wire.
type netPlan struct {
	nsPath  string
	family  int
	sa      unix.Sockaddr
	raddr   *net.TCPAddr
	timeout time.Duration
	get     *preparedGet // nil: a TCP probe
}

// planFor is the loop's plan for probe p of the instance t, or nil when
// the probe is one the loop leaves to a worker goroutine: exec and gRPC
// probes, HTTPS, a host name to resolve, an IPv6 zone, a request that
// cannot be sent as it is, a port that does not resolve (its error is
// the goroutine path's to report).
func planFor(t *Target, p *v1.Probe) *netPlan {
	c := t.Container
	if c == nil {
		c = &v1.Container{Name: t.ContainerName}
	}
	var (
		host string
		port int
		err  error
		get  *preparedGet
	)
	switch {
	case p.HTTPGet != nil:
		if port, err = resolvePort(p.HTTPGet.Port, c); err != nil {
			return nil
		}
		host = defaultHost(p.HTTPGet.Host, t.PodIP)
		get = prepareGet(host, port, p.HTTPGet)
		if get.err != nil || get.bad != nil || get.wire == nil || get.req.URL.Scheme != "http" {
			return nil
		}
	case p.TCPSocket != nil:
		if port, err = resolvePort(p.TCPSocket.Port, c); err != nil {
			return nil
		}
		host = defaultHost(p.TCPSocket.Host, t.PodIP)
	default:
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return nil
	}
	ip = ip.Unmap()
	timeout := seconds(p.TimeoutSeconds)
	if timeout <= 0 {
		timeout = time.Second
	}
	plan := &netPlan{nsPath: t.NetNSPath, timeout: timeout, get: get,
		raddr: &net.TCPAddr{IP: ip.AsSlice(), Port: port}}
	if ip.Is4() {
		plan.family, plan.sa = unix.AF_INET, &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	} else {
		plan.family, plan.sa = unix.AF_INET6, &unix.SockaddrInet6{Port: port, Addr: ip.As16()}
	}
	return plan
}

// dialError is a failed connect as dialRaw words it.
func (p *netPlan) dialError(err error) error {
	if _, isErrno := err.(unix.Errno); isErrno {
		err = os.NewSyscallError("connect", err)
	}
	return &net.OpError{Op: "dial", Net: "tcp", Addr: p.raddr, Err: err}
}

// socketError is a socket that could not be made, as dialRaw words it.
func (p *netPlan) socketError(err error) error {
	if _, isErrno := err.(unix.Errno); isErrno {
		err = os.NewSyscallError("socket", err)
	}
	return &net.OpError{Op: "dial", Net: "tcp", Addr: p.raddr, Err: err}
}

// failure is the result of a probe whose connection failed with err
// (a dial error) or whose request or answer failed with it.
func (p *netPlan) failure(err error, timedOut bool) (outcome, string, error) {
	if p.get == nil {
		return outcomeFailure, err.Error(), nil
	}
	return outcomeFailure, tripError(p.get.req, err, timedOut).Error(), nil
}
