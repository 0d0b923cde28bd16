// Command benchcluster is issue 10's cluster-mode benchmark. It starts a
// real control plane through the end-to-end rig (cmd/miniagent/e2e/cluster:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler from
// bin/k8s), one miniagent daemon joined to it as a Node, and one standalone
// daemon, each with its own containerd namespace, cgroup root, root dir and
// socket. Then:
//
//   - latency, interleaved, N rounds each after one warm-up: a one-container
//     busybox pod created in the apiserver with spec.nodeName set, until a
//     watch on the apiserver shows it phase Running and Ready; and the same
//     pod applied to the standalone daemon through its local API, until its
//     watch shows the same. Median, p95, min, max and the ratio of medians.
//   - idle cost: M busybox sleep pods in cluster mode (the apiserver's
//     default service-account token volume included), then the cluster
//     agent's CPU (utime+stime from /proc/PID/stat) over a window, its RSS
//     (VmRSS from /proc/PID/status, sampled every second) and the load
//     average; the same for the standalone daemon with the same pods
//     without the token volume (--idle-standalone).
//
// Everything it creates is removed at the end: the pods (through the
// apiserver and the local API), the daemons (by their PIDs), the control
// plane. scripts/bench-cluster.sh builds the binaries, imports the image
// and removes the containerd namespaces, cgroups and files as a safety net.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/miniagent/miniagent/cmd/miniagent/e2e/cluster"
)

type options struct {
	binDir      string // miniagent and miniagent-daemon
	k8sBin      string // control-plane binaries
	work        string // daemons' files below
	address     string // containerd socket
	namespace   string // the cluster agent's containerd namespace, cgroup root and node name
	saNamespace string // the standalone daemon's
	basePort    int
	podNS       string // Kubernetes namespace of the pods
	image       string
	rounds      int
	idlePods    int
	window      time.Duration
	settle      time.Duration
	idleSA      bool
	logLevel    string
	timeout     time.Duration // per pod start
}

func main() {
	var o options
	flag.StringVar(&o.binDir, "bin-dir", "", "directory holding miniagent and miniagent-daemon (required)")
	flag.StringVar(&o.k8sBin, "k8s-bin", "", "directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (required)")
	flag.StringVar(&o.work, "work", "", "directory for the daemons' root dirs, sockets and logs (required, absolute)")
	flag.StringVar(&o.address, "containerd-address", "/run/containerd/containerd.sock", "containerd socket")
	flag.StringVar(&o.namespace, "namespace", "ma-cbench", "cluster agent: containerd namespace, cgroup root and node name")
	flag.StringVar(&o.saNamespace, "standalone-namespace", "ma-cbench-sa", "standalone daemon: containerd namespace, cgroup root and node name")
	flag.IntVar(&o.basePort, "base-port", 21000, "first port: control plane on base..base+4, the agent's kubelet server on base+10")
	flag.StringVar(&o.podNS, "n", "default", "Kubernetes namespace of the pods")
	flag.StringVar(&o.image, "image", "busybox", "image (imported into both containerd namespaces)")
	flag.IntVar(&o.rounds, "rounds", 30, "latency rounds of each kind (after one warm-up)")
	flag.IntVar(&o.idlePods, "idle-pods", 50, "idle pods for the CPU and RSS measurement (0: skip)")
	flag.DurationVar(&o.window, "window", 60*time.Second, "CPU measurement window")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "wait after the idle pods are ready before the window")
	flag.BoolVar(&o.idleSA, "idle-standalone", true, "also measure the standalone daemon with the idle pods")
	flag.StringVar(&o.logLevel, "v", "info", "the daemons' log level")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up on one pod start after this long")
	flag.Parse()
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "benchcluster:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchcluster:", err)
		os.Exit(1)
	}
}

func (o options) check() error {
	switch {
	case o.binDir == "":
		return errors.New("--bin-dir is required")
	case o.k8sBin == "":
		return errors.New("--k8s-bin is required")
	case o.work == "" || !filepath.IsAbs(o.work):
		return fmt.Errorf("--work %q: want an absolute directory", o.work)
	case o.rounds < 1:
		return fmt.Errorf("--rounds %d: want at least 1", o.rounds)
	case o.idlePods < 0:
		return fmt.Errorf("--idle-pods %d: want 0 or more", o.idlePods)
	case o.basePort < 1024 || o.basePort > 65500:
		return fmt.Errorf("--base-port %d: want 1024..65500", o.basePort)
	case o.namespace == o.saNamespace:
		return fmt.Errorf("--namespace and --standalone-namespace are both %q", o.namespace)
	case o.window <= 0:
		return fmt.Errorf("--window %v: want > 0", o.window)
	}
	return nil
}

// run sets everything up, measures, and tears down in reverse order also
// when a step fails or ctx is cancelled (Ctrl-C).
func run(ctx context.Context, o options) (err error) {
	fmt.Printf("==> %s, load %s\n", hostLine(), loadLine())
	start := time.Now()
	cp, err := cluster.Start(ctx, cluster.Config{BinDir: o.k8sBin, BasePort: o.basePort, Nodes: []string{o.namespace},
		Logf: func(f string, a ...any) { fmt.Printf("    "+f+"\n", a...) }})
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	defer func() {
		fmt.Println("==> stop the control plane")
		err = errors.Join(err, cp.Stop())
	}()
	fmt.Printf("==> control plane up in %v\n", time.Since(start).Round(time.Millisecond))

	ca, err := startDaemon(o, o.namespace, filepath.Join(o.work, "cluster"),
		"--kubeconfig", cp.NodeKubeconfigs[o.namespace], "--node-ip", "127.0.0.1", "--port", fmt.Sprint(o.basePort+10),
		"--max-pods", fmt.Sprint(max(110, o.idlePods+10)))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ca.stop()) }()
	sa, err := startDaemon(o, o.saNamespace, filepath.Join(o.work, "standalone"), "--max-pods", fmt.Sprint(max(110, o.idlePods+10)))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sa.stop()) }()

	cb, err := newClusterBench(ctx, o, cp, ca)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cb.cleanup()) }()
	sb := newStandaloneBench(o, sa)
	defer func() { err = errors.Join(err, sb.cleanup()) }()

	lat, err := latency(ctx, o, cb, sb)
	if err != nil {
		return err
	}
	lat.print(o)
	if o.idlePods == 0 {
		return nil
	}
	cu, err := cb.idle(ctx)
	if err != nil {
		return fmt.Errorf("idle pods in cluster mode: %w", err)
	}
	cu.print(fmt.Sprintf("cluster agent, %d idle pods", o.idlePods))
	if o.idleSA {
		su, err := sb.idle(ctx)
		if err != nil {
			return fmt.Errorf("idle pods standalone: %w", err)
		}
		su.print(fmt.Sprintf("standalone daemon, %d idle pods (no token volume)", o.idlePods))
	}
	return nil
}
