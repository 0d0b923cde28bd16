package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent"
	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/eviction"
	"github.com/miniagent/miniagent/agent/kubeapi"
	"github.com/miniagent/miniagent/agent/metrics"
	"github.com/miniagent/miniagent/agent/sources"
	"github.com/miniagent/miniagent/procmem"
	"github.com/miniagent/miniagent/runtime/containerd"
)

type daemonFlags struct {
	containerdAddress, containerdNamespace   string
	containerdStateDir                       string
	rootDir, socket, manifestDir, podLogsDir string
	cgroupRoot, nodeName, logLevel           string
	nodeLabels                               map[string]string
	taints                                   []string
	kubeReserved, systemReserved, enforce    string
	evictionHard, evictionSoft, softGrace    string
	minReclaim                               string
	evictionPeriod, pressurePeriod           time.Duration
	syncFrequency                            time.Duration
	maxPods                                  int
	metricsBindAddress                       string
	containerLogMode                         string
	execHelper                               string
	insecureRegistries                       []string
	cluster                                  clusterFlags
	kubeAPIAddress                           string
	imagePagesInterval                       time.Duration
}

// gcPercent is the daemon's GC target unless GOGC is set. Its heap is
// mostly long-lived pod state that grows with the pods, so a target
// proportional to it stays safe on a bigger node, unlike a fixed
// GOMEMLIMIT. At 250 pods, 50 (Go's default is 100) took the RSS from
// 79 to 73 MiB (network probes) and from 95 to 87 MiB (with exec probes)
// for no CPU that one run could tell (4.6 % / 4.7 % of a core).
const gcPercent = 50

func setGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

func runDaemon(args []string) int {
	var f daemonFlags
	fs := pflag.NewFlagSet("miniagent daemon", pflag.ContinueOnError)
	fs.StringVar(&f.containerdAddress, "containerd-address", "/run/containerd/containerd.sock", "containerd socket")
	fs.StringVar(&f.containerdStateDir, "containerd-state-dir", containerd.DefaultContainerdStateDir, "containerd's state directory (its \"state\" setting): task bundles a killed containerd left there are removed with their containers")
	fs.StringVar(&f.containerdNamespace, "containerd-namespace", "miniagent", "containerd namespace for the agent's images and containers")
	fs.StringVar(&f.rootDir, "root-dir", "/var/lib/miniagent", "directory for checkpoints and volumes")
	fs.StringVar(&f.socket, "socket", "/run/miniagent/miniagent.sock", "unix socket of the local API")
	fs.StringVar(&f.manifestDir, "pod-manifest-path", "", "directory of static pod manifests to run")
	fs.StringVar(&f.podLogsDir, "pod-logs-dir", "/var/log/pods", "directory of container logs")
	fs.StringVar(&f.cgroupRoot, "cgroup-root", "miniagent", "top-level cgroup of all pods")
	fs.StringVar(&f.nodeName, "node-name", "", "node name (default: the hostname)")
	fs.StringToStringVar(&f.nodeLabels, "node-labels", nil, "labels to add to the node, k=v,...")
	fs.StringSliceVar(&f.taints, "register-with-taints", nil, "taints of the node, key=value:Effect,...")
	fs.DurationVar(&f.syncFrequency, "sync-frequency", agent.DefaultSyncFrequency, "how often each pod is synced with nothing to prompt it, plus up to half of that at random (exits, probe results, deadlines and back-offs prompt a sync themselves)")
	fs.IntVar(&f.maxPods, "max-pods", agent.DefaultMaxPods, "number of pods that can run on this node")
	fs.StringVar(&f.logLevel, "v", "info", "log level: debug, info, warn, error")
	fs.StringVar(&f.execHelper, "exec-helper", "", "exec server program mounted into containers to run exec probes without runc exec (default: miniagent-exec next to this binary, if there; \"none\": always runc exec)")
	fs.StringVar(&f.metricsBindAddress, "metrics-bind-address", "", "host:port to serve /metrics over TCP too (default off; an empty host is 127.0.0.1; a non-loopback host is served with a warning)")
	fs.StringVar(&f.containerLogMode, "container-log-mode", containerd.LogModeAgent, "how container output reaches its log file: \"agent\" (the shim appends to a spool under --root-dir that the agent turns into CRI records; no process per container) or \"process\" (a miniagent-crilog process per container)")
	fs.StringSliceVar(&f.insecureRegistries, "insecure-registry", nil, "registry HOST[:PORT] to pull from over plain HTTP (repeatable or comma-separated; every other registry, localhost included, is HTTPS only)")
	fs.StringVar(&f.kubeReserved, "kube-reserved", "", "resources reserved for the agent and runtime, e.g. memory=256Mi,cpu=100m")
	fs.StringVar(&f.systemReserved, "system-reserved", "", "resources reserved for the system, e.g. memory=1Gi,cpu=500m")
	fs.StringVar(&f.enforce, "enforce-node-allocatable", "pods", "\"pods\" limits the top-level pods cgroup to capacity - reserved; \"none\" does not")
	fs.StringVar(&f.evictionHard, "eviction-hard", eviction.DefaultHard, "hard eviction thresholds, e.g. memory.available<100Mi,allocatableMemory.available<50Mi")
	fs.StringVar(&f.evictionSoft, "eviction-soft", "", "soft eviction thresholds, e.g. memory.available<300Mi")
	fs.StringVar(&f.softGrace, "eviction-soft-grace-period", "", "grace periods of soft thresholds, e.g. memory.available=30s")
	fs.StringVar(&f.minReclaim, "eviction-minimum-reclaim", "", "minimum reclaim per signal, e.g. memory.available=0Mi")
	fs.DurationVar(&f.evictionPeriod, "eviction-monitoring-period", eviction.DefaultMonitoringPeriod, "how often eviction thresholds are checked")
	fs.DurationVar(&f.pressurePeriod, "eviction-pressure-transition-period", eviction.DefaultPressureTransitionPeriod, "how long MemoryPressure stays True after a threshold was last met")
	fs.DurationVar(&f.imagePagesInterval, "image-pages-drop-interval", 5*time.Minute, "how often the daemon unmaps the pages of its own executable (read-only code and data; first a minute after start): those it uses come back at once by minor faults, the rest stay in the page cache, unmapped and not in its RSS (0: never)")
	addClusterFlags(fs, &f.cluster)
	addKubeAPIFlags(fs, &f.kubeAPIAddress)
	if err := fs.Parse(args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	}
	if err := checkKubeAPIAddress(f.kubeAPIAddress); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	}
	if err := checkClusterFlags(fs, f); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	}
	setGCPercent()
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "error: --v:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	taints, err := parseTaints(f.taints)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: --register-with-taints:", err)
		return 2
	}
	res, err := resourceOptions(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	}
	if f.syncFrequency <= 0 {
		fmt.Fprintf(os.Stderr, "error: --sync-frequency: %v: must be more than 0\n", f.syncFrequency)
		return 2
	}
	if f.containerLogMode != containerd.LogModeAgent && f.containerLogMode != containerd.LogModeProcess {
		fmt.Fprintf(os.Stderr, "error: --container-log-mode: %q: want %q or %q\n", f.containerLogMode, containerd.LogModeAgent, containerd.LogModeProcess)
		return 2
	}
	for _, h := range f.insecureRegistries {
		if err := containerd.ValidateRegistryHost(h); err != nil {
			fmt.Fprintln(os.Stderr, "error: --insecure-registry:", err)
			return 2
		}
	}
	if f.metricsBindAddress != "" {
		if _, _, err := metrics.BindAddress(f.metricsBindAddress); err != nil {
			fmt.Fprintln(os.Stderr, "error: --metrics-bind-address:", err)
			return 2
		}
	}
	if err := daemon(f, taints, res, log); err != nil {
		log.Error("daemon failed", "err", err)
		return 1
	}
	return 0
}

func daemon(f daemonFlags, taints []v1.Taint, res resourceOpts, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	shim := logShim(self)
	helper := execHelper(self, f.execHelper)
	rt, err := containerd.New(ctx, containerd.Options{
		Address:            f.containerdAddress,
		Namespace:          f.containerdNamespace,
		ContainerdStateDir: f.containerdStateDir,
		InsecureRegistries: f.insecureRegistries,
		StateDir:           filepath.Join(f.rootDir, "ns"),
		LogShim:            shim,
		LogMode:            f.containerLogMode,
		LogSpoolDir:        filepath.Join(f.rootDir, "logspool"),
		OnLogError:         func(id string, err error) { log.Warn("container log", "container", id, "err", err) },
		ExecHelper:         helper,
		Log:                log,
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	m := metrics.New()
	m.Registry().MustRegister(rt.Collectors()...)
	if f.nodeName, err = agent.ResolveNodeName(f.nodeName); err != nil {
		return err
	}
	cm, err := newClusterMode(f, log)
	if err != nil {
		return err
	}
	a, err := agent.New(cm.withAgentOptions(agent.Options{
		Runtime: rt, Log: log, RootDir: f.rootDir, PodLogsDir: f.podLogsDir, CgroupRoot: f.cgroupRoot,
		Node:    agent.NodeConfig{Name: f.nodeName, Labels: f.nodeLabels, Taints: taints, MaxPods: f.maxPods},
		Cgroups: res.cgroups, Allocatable: res.allocatable, Eviction: res.eviction, Metrics: m,
		ResyncPeriod: f.syncFrequency,
	}, log))
	if err != nil {
		return err
	}
	node, err := cm.build(f, taints, a, log)
	if err != nil {
		return err
	}
	ksrv, err := kubeletServer(ctx, f, cm, a, m, log)
	if err != nil {
		return err
	}
	var srcs []agent.Source
	if f.manifestDir != "" {
		srcs = append(srcs, sources.NewFileSource(f.manifestDir, a.NodeName(), log))
	}
	if cm != nil {
		srcs = append(srcs, cm.pods.Source)
		go cm.pods.Run(ctx)
	}
	srv := api.NewServer(a, log)
	srv.SetPodTable(kubeapi.PodTable, time.Now)
	srv.Handle("GET /metrics", m.Handler())
	if f.metricsBindAddress != "" {
		ln, err := metrics.Listen(f.metricsBindAddress, log)
		if err != nil {
			return err
		}
		go func() {
			if err := m.Serve(ctx, ln, log); err != nil {
				log.Error("metrics server stopped", "err", err)
			}
		}()
	}
	errc := make(chan error, 1)
	go func() {
		// The API answers only once the checkpointed pods are restored.
		select {
		case <-a.Ready():
			errc <- srv.Serve(ctx, f.socket)
		case <-ctx.Done():
			errc <- nil
		}
	}()
	kubeAPIErr := make(chan error, 1)
	go func() {
		select {
		case <-a.Ready():
			err := serveKubeAPI(ctx, f.kubeAPIAddress, f.rootDir, a, log)
			if err != nil && ctx.Err() == nil {
				log.Error("Kubernetes API failed; stopping", "err", err)
				stop()
			}
			kubeAPIErr <- err
		case <-ctx.Done():
			kubeAPIErr <- nil
		}
	}()
	clusterErr := make(chan error, 1)
	go func() {
		if node == nil {
			clusterErr <- nil
			return
		}
		// The Node is registered once the checkpointed pods are restored.
		select {
		case <-a.Ready():
			clusterErr <- node.Run(ctx)
		case <-ctx.Done():
			clusterErr <- nil
		}
	}()
	serverErr := make(chan error, 1)
	go func() {
		if ksrv == nil {
			serverErr <- nil
			return
		}
		// Served once the checkpointed pods are restored; a server that
		// cannot listen stops the daemon, as kubelet exits.
		select {
		case <-a.Ready():
			err := ksrv.Run(ctx)
			if err != nil && ctx.Err() == nil {
				log.Error("kubelet server failed", "err", err)
				stop()
			}
			serverErr <- err
		case <-ctx.Done():
			serverErr <- nil
		}
	}()
	if f.imagePagesInterval > 0 {
		go procmem.Run(ctx, clock.RealClock{}, procmem.FirstDrop, f.imagePagesInterval, log)
	}
	log.Info("miniagent started", "node", a.NodeName(), "socket", f.socket, "containerd", f.containerdAddress, "namespace", f.containerdNamespace, "log_mode", f.containerLogMode, "log_process", strings.Join(shim, " "), "exec_helper", helperName(helper), "kubeconfig", f.cluster.kubeconfig)
	runErr := a.Run(ctx, srcs...)
	stop()
	if err := <-errc; err != nil && ctx.Err() == nil {
		return err
	}
	if err := <-clusterErr; err != nil && ctx.Err() == nil {
		return err
	}
	if err := <-serverErr; err != nil {
		return err
	}
	if err := <-kubeAPIErr; err != nil {
		return err // it stopped the daemon
	}
	log.Info("miniagent stopped; pods keep running")
	return runErr
}

// parseTaints reads key=value:Effect or key:Effect items.
func parseTaints(items []string) ([]v1.Taint, error) {
	var out []v1.Taint
	for _, it := range items {
		kv, effect, ok := strings.Cut(it, ":")
		if !ok {
			return nil, fmt.Errorf("invalid taint %q: want key=value:Effect", it)
		}
		k, v, _ := strings.Cut(kv, "=")
		e := v1.TaintEffect(effect)
		if e != v1.TaintEffectNoSchedule && e != v1.TaintEffectPreferNoSchedule && e != v1.TaintEffectNoExecute {
			return nil, fmt.Errorf("invalid taint effect %q in %q: want NoSchedule, PreferNoSchedule or NoExecute", effect, it)
		}
		out = append(out, v1.Taint{Key: k, Value: v, Effect: e})
	}
	return out, nil
}

// logShim is the log process argv prefix: the small miniagent-crilog
// binary next to this one if there is one, else this binary's crilog-shim
// verb.
func logShim(self string) []string {
	small := filepath.Join(filepath.Dir(self), "miniagent-crilog")
	if fi, err := os.Stat(small); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return []string{small}
	}
	return []string{self, "crilog-shim"}
}

// execHelper is the exec server program: flag "none" none, another flag
// value that path, else miniagent-exec next to this binary if it is there.
func execHelper(self, flag string) string {
	switch flag {
	case "none":
		return ""
	case "":
		small := filepath.Join(filepath.Dir(self), "miniagent-exec")
		if fi, err := os.Stat(small); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return small
		}
		return ""
	}
	return flag
}

func helperName(p string) string {
	if p == "" {
		return "none (exec probes use runc exec)"
	}
	return p
}
