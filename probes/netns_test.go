package probes

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// newNetNS creates a fresh network namespace with loopback up, bind-mounts
// it at a file in a temp dir (like a pod sandbox) and returns that path and
// n TCP listeners on 127.0.0.1 inside it.
func newNetNS(t *testing.T, n int) (string, []net.Listener) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare and mount")
	}
	nsPath := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(nsPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	type made struct {
		ls  []net.Listener
		err error
	}
	ch := make(chan made, 1)
	go func() {
		// Never unlocked: the thread in the new namespace dies with this goroutine.
		goruntime.LockOSThread()
		var m made
		defer func() { ch <- m }()
		if m.err = unix.Unshare(unix.CLONE_NEWNET); m.err != nil {
			return
		}
		if m.err = loopbackUp(); m.err != nil {
			return
		}
		if m.err = unix.Mount("/proc/thread-self/ns/net", nsPath, "", unix.MS_BIND, ""); m.err != nil {
			return
		}
		for range n {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				m.err = err
				return
			}
			m.ls = append(m.ls, l)
		}
	}()
	m := <-ch
	t.Cleanup(func() {
		for _, l := range m.ls {
			l.Close()
		}
		unix.Unmount(nsPath, unix.MNT_DETACH)
	})
	if m.err != nil {
		t.Fatalf("create netns: %v", m.err)
	}
	return nsPath, m.ls
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

func port(l net.Listener) int32 { return int32(l.Addr().(*net.TCPAddr).Port) }

func TestProbesInsideNetNS(t *testing.T) {
	nsPath, ls := newNetNS(t, 3)

	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "inside") }))
	web.Listener = ls[0]
	web.Start()
	defer web.Close()

	go func() {
		for {
			c, err := ls[1].Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	g := grpc.NewServer()
	healthpb.RegisterHealthServer(g, health.NewServer()) // "" is SERVING
	go g.Serve(ls[2])
	defer g.Stop()

	probes := map[string]*v1.Probe{
		"http": {TimeoutSeconds: 1, ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt32(port(ls[0])), Path: "/"}}},
		"tcp":  {TimeoutSeconds: 1, ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(port(ls[1]))}}},
		"grpc": {TimeoutSeconds: 1, ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: port(ls[2])}}},
	}
	h := &handlers{}
	for name, p := range probes {
		t.Run(name, func(t *testing.T) {
			inside := &Target{PodIP: "127.0.0.1", NetNSPath: nsPath, Container: &v1.Container{}}
			out, msg, err := h.probe(context.Background(), Readiness, inside, p)
			if err != nil || out != outcomeSuccess {
				t.Fatalf("through the netns: (%v, %q, %v), want success", out, msg, err)
			}
			if name == "grpc" {
				return // a host-side gRPC miss costs the whole timeout; http and tcp prove the point
			}
			host := &Target{PodIP: "127.0.0.1", Container: &v1.Container{}}
			if out, msg, _ := h.probe(context.Background(), Readiness, host, p); out != outcomeFailure {
				t.Fatalf("from the host netns the pod's server must be unreachable, got (%v, %q)", out, msg)
			}
		})
	}
}

// After many dials through a pod netns, dials from the host netns still
// reach host listeners: no thread is left behind in the pod's namespace.
func TestNetNSThreadsGoBack(t *testing.T) {
	nsPath, ls := newNetNS(t, 1)
	go func() {
		for {
			c, err := ls[0].Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hostL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hostL.Close()
	go func() {
		for {
			c, err := hostL.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	inAddr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port(ls[0])))
	hostAddr := hostL.Addr().String()
	for i := range 50 {
		c, err := dial(context.Background(), nsPath, "tcp", inAddr)
		if err != nil {
			t.Fatalf("netns dial %d: %v", i, err)
		}
		c.Close()
		c, err = dial(context.Background(), "", "tcp", hostAddr)
		if err != nil {
			t.Fatalf("host dial %d after netns dials: %v", i, err)
		}
		c.Close()
	}
	if _, err := dial(context.Background(), filepath.Join(t.TempDir(), "missing"), "tcp", inAddr); err == nil {
		t.Fatal("dial through a missing netns file succeeded")
	}
}
