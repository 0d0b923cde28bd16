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

func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// A held namespace file is opened once and reused; when the path comes to
// name another namespace (unmounted, another one mounted there) the next
// dial follows the path; the last release closes the file.
func TestNetNSHeldFileFollowsPath(t *testing.T) {
	pathA, lsA := newNetNS(t, 1)
	pathB, lsB := newNetNS(t, 1)
	go acceptAndClose(lsA[0])
	go acceptAndClose(lsB[0])
	held := func() *nsFile {
		netns.mu.Lock()
		defer netns.mu.Unlock()
		return netns.held[pathA]
	}
	dialA := func(l net.Listener) error {
		c, err := dial(context.Background(), pathA, "tcp", l.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	}

	netns.hold(pathA)
	netns.hold(pathA)
	if err := dialA(lsA[0]); err != nil {
		t.Fatal(err)
	}
	first := held().f
	if first == nil {
		t.Fatal("held path: namespace file not kept open")
	}
	if err := dialA(lsA[0]); err != nil || held().f != first {
		t.Fatalf("second dial: err %v, file reused %v", err, held().f == first)
	}

	if err := unix.Unmount(pathA, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(pathB, pathA, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if err := dialA(lsB[0]); err != nil {
		t.Fatalf("dial after the path changed namespace: %v", err)
	}
	if held().f == first {
		t.Fatal("still using the old namespace's file")
	}

	netns.release(pathA)
	if held() == nil {
		t.Fatal("released while still held once")
	}
	netns.release(pathA)
	if held() != nil {
		t.Fatal("last release did not drop the file")
	}
}

// The Manager holds a pod's namespace while an instance with a network
// probe runs there, and only then.
func TestManagerHoldsNetNS(t *testing.T) {
	m, _, _, _ := runningManager(t)
	nsPath := filepath.Join(t.TempDir(), "netns")
	web := &v1.Container{Name: "web", ReadinessProbe: &v1.Probe{ProbeHandler: v1.ProbeHandler{
		TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(80)}}}}
	sh := &v1.Container{Name: "sh", LivenessProbe: execProbe(v1.Probe{})}
	holds := func() int {
		netns.mu.Lock()
		defer netns.mu.Unlock()
		if h := netns.held[nsPath]; h != nil {
			return h.holds
		}
		return 0
	}
	for i, c := range []*v1.Container{web, web, sh} {
		tg := target(fmt.Sprint("c", i), "p1", c)
		tg.NetNSPath = nsPath
		m.AddContainer(tg)
	}
	if n := holds(); n != 2 {
		t.Fatalf("holds = %d, want 2 (two instances with a TCP probe; exec probes need none)", n)
	}
	m.RemoveContainer("c0")
	if n := holds(); n != 1 {
		t.Fatalf("holds after one removal = %d, want 1", n)
	}
	m.RemovePod("p1")
	if n := holds(); n != 0 {
		t.Fatalf("holds after RemovePod = %d, want 0", n)
	}
}
