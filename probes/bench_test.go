package probes

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The probe benchmarks measure what one probe costs the agent: its servers
// run in a child process (this test binary again, see TestMain) inside a
// network namespace the benchmark creates, so the CPU time this process
// spends (getrusage before and after b.N probes) is the probing side only.
// Each benchmark reports it as cpu-us/probe next to ns/op and allocs/op.
//
//	go test -run '^$' -bench . -benchmem ./probes/   (as root)

const benchServerEnv = "PROBES_BENCH_SERVER_NETNS"

func TestMain(m *testing.M) {
	if ns := os.Getenv(benchServerEnv); ns != "" {
		if err := benchServe(ns); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// benchServe joins the namespace at nsPath, listens there for HTTP, TCP and
// gRPC on 127.0.0.1, prints "http tcp grpc" ports and serves until stdin
// closes.
func benchServe(nsPath string) error {
	goruntime.LockOSThread() // sockets made below belong to the joined namespace
	if nsPath != "host" {
		f, err := os.Open(nsPath)
		if err != nil {
			return err
		}
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			return err
		}
	}
	var (
		ls  [3]net.Listener
		err error
	)
	for i := range ls {
		if ls[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	goruntime.UnlockOSThread()
	go http.Serve(ls[0], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
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
	healthpb.RegisterHealthServer(g, health.NewServer())
	go g.Serve(ls[2])
	fmt.Printf("%d %d %d\n", port(ls[0]), port(ls[1]), port(ls[2]))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// benchNetNS makes a network namespace bind-mounted at a temp file with
// loopback up, and starts the server child in it.
func benchNetNS(b *testing.B) (nsPath string, httpPort, tcpPort, grpcPort int32) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root for unshare and mount")
	}
	nsPath = filepath.Join(b.TempDir(), "netns")
	if err := os.WriteFile(nsPath, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		if err := loopbackUp(); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount("/proc/thread-self/ns/net", nsPath, "", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		b.Fatalf("create netns: %v", err)
	}
	b.Cleanup(func() { unix.Unmount(nsPath, unix.MNT_DETACH) })
	httpPort, tcpPort, grpcPort = benchChild(b, nsPath)
	return nsPath, httpPort, tcpPort, grpcPort
}

// benchChild starts the server child in the namespace at nsPath ("host":
// the test's own) and returns its ports.
func benchChild(b *testing.B, nsPath string) (httpPort, tcpPort, grpcPort int32) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"="+nsPath)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("bench server: %v", err)
	}
	if _, err := fmt.Sscan(strings.TrimSpace(line), &httpPort, &tcpPort, &grpcPort); err != nil {
		b.Fatalf("bench server said %q: %v", line, err)
	}
	return httpPort, tcpPort, grpcPort
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchProbe runs b.N probes, one after the other or, with every > 0, one
// per tick of a ticker of that period (p nil: no probe, only the ticks),
// and reports the agent CPU each one cost.
func benchProbe(b *testing.B, p *v1.Probe, nsPath string, every time.Duration) {
	h := &handlers{}
	t := &Target{PodIP: "127.0.0.1", NetNSPath: nsPath, Container: &v1.Container{Name: "web"}}
	if nsPath != "" {
		// As a Manager does for the pods it probes.
		netns.hold(nsPath)
		defer netns.release(nsPath)
	}
	ctx := context.Background()
	probe := func() {
		if p == nil {
			return
		}
		if out, msg, err := h.probe(ctx, Readiness, t, p); err != nil || out != outcomeSuccess {
			b.Fatalf("probe: (%v, %q, %v)", out, msg, err)
		}
	}
	probe()
	var tick <-chan time.Time
	if every > 0 {
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		tick = ticker.C
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		if tick != nil {
			<-tick
		}
		probe()
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/probe")
}

// BenchmarkProbeNetNS probes servers in a pod-like network namespace, a
// fresh one for each run so that no run inherits another's TIME_WAIT
// sockets.
func BenchmarkProbeNetNS(b *testing.B) {
	for _, kind := range []string{"http", "tcp", "grpc"} {
		b.Run(kind, func(b *testing.B) {
			nsPath, httpPort, tcpPort, grpcPort := benchNetNS(b)
			benchProbe(b, benchSpec(kind, httpPort, tcpPort, grpcPort), nsPath, 0)
		})
	}
}

// BenchmarkProbeHost probes servers in the agent's own namespace: the cost
// of the probe without any namespace handling.
func BenchmarkProbeHost(b *testing.B) {
	for _, kind := range []string{"http", "tcp", "grpc"} {
		b.Run(kind, func(b *testing.B) {
			if os.Geteuid() != 0 {
				b.Skip("runs with the namespace benchmark, as root")
			}
			httpPort, tcpPort, grpcPort := benchChild(b, "host")
			benchProbe(b, benchSpec(kind, httpPort, tcpPort, grpcPort), "", 0)
		})
	}
}

// BenchmarkProbePaced probes as the agent does, one probe at a time with
// the process idle in between: one every 2 ms (500/s, five times the
// issue's 100 pods' HTTP probes). Each probe then also pays for waking the
// process; "ticks" is the cost of the ticker's wake-ups alone, to subtract.
// b.N ticks take b.N × 2 ms: the default -benchtime makes about 500.
func BenchmarkProbePaced(b *testing.B) {
	for _, kind := range []string{"http", "tcp", "grpc", "ticks"} {
		b.Run(kind, func(b *testing.B) {
			nsPath, httpPort, tcpPort, grpcPort := benchNetNS(b)
			var p *v1.Probe
			if kind != "ticks" {
				p = benchSpec(kind, httpPort, tcpPort, grpcPort)
			}
			benchProbe(b, p, nsPath, 2*time.Millisecond)
		})
	}
}

func benchSpec(kind string, httpPort, tcpPort, grpcPort int32) *v1.Probe {
	p := &v1.Probe{TimeoutSeconds: 1}
	switch kind {
	case "http":
		p.HTTPGet = &v1.HTTPGetAction{Port: intstr.FromInt32(httpPort), Path: "/healthz"}
	case "tcp":
		p.TCPSocket = &v1.TCPSocketAction{Port: intstr.FromInt32(tcpPort)}
	case "grpc":
		p.GRPC = &v1.GRPCAction{Port: grpcPort}
	}
	return p
}
