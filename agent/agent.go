package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/eviction"
	"github.com/miniagent/miniagent/agent/metrics"
	"github.com/miniagent/miniagent/agent/sources"
	"github.com/miniagent/miniagent/cgroups"
	"github.com/miniagent/miniagent/oom"
	"github.com/miniagent/miniagent/runtime"
)

// DefaultSyncFrequency is Options.ResyncPeriod's default, kubelet's
// default --sync-frequency.
const DefaultSyncFrequency = time.Minute

// Options configure an Agent. cmd/miniagent fills them from flags.
type Options struct {
	Runtime    runtime.Runtime
	Clock      clock.WithTicker // nil = the real clock
	Log        *slog.Logger
	RootDir    string // checkpoints and volumes
	PodLogsDir string // CRI logs, /var/log/pods
	CgroupRoot string // top-level pods cgroup, e.g. "miniagent"
	Node       NodeConfig
	// Cgroups manages the pods cgroup tree (nil: containers get their
	// cgroups from the runtime only, as in unit tests); Allocatable is the
	// node allocatable it enforces.
	Cgroups     cgroups.Manager
	Allocatable cgroups.NodeAllocatable
	// Eviction configures the memory eviction manager (nil: none). Its
	// Thresholds and periods are used; the agent fills in the rest.
	Eviction *eviction.ManagerConfig
	// ResyncPeriod is how often every pod worker re-syncs without a reason
	// (default DefaultSyncFrequency), plus up to half of it at random, as
	// kubelet's pod workers do; HealthPeriod how often the runtime is
	// checked (default 1 s).
	ResyncPeriod time.Duration
	HealthPeriod time.Duration
	// Metrics records the agent's metrics (nil: none).
	Metrics *metrics.Metrics
	// OnPodStatus, if set, is told every status a pod worker publishes
	// (see PodStatusFunc); cluster mode's status manager listens here.
	OnPodStatus PodStatusFunc
	// APIVolumes makes the configMap, secret, downwardAPI and projected
	// volumes of pods from the API server (cluster mode; nil: such a pod
	// cannot start, its volumes fail to mount).
	APIVolumes APIVolumes
}

// APIVolumes sets up the volumes whose content comes from the API server
// (apivolume.Manager). The pod's worker calls SetUp before the pod's
// containers start and on later syncs (cheap once set up), TearDown before
// it removes the pod's volumes.
type APIVolumes interface {
	SetUp(ctx context.Context, pod *v1.Pod, podDir string) error
	TearDown(uid types.UID)
}

// Agent runs pods. Create it with New, then call Run.
type Agent struct {
	opts  Options
	rt    runtime.Runtime
	clock clock.WithTicker
	log   *slog.Logger
	node  *nodeInfo

	// mu guards the pod configuration (which pods exist, by UID and name),
	// the last published pods and the watchers. A pod's own state belongs
	// to its worker.
	mu        sync.Mutex
	byName    map[string]types.UID // namespace/name → the visible pod
	workers   map[types.UID]*podWorker
	published map[types.UID]*v1.Pod // last status sent to watchers
	watchers  map[chan api.WatchEvent]string
	runtimeUp atomic.Bool

	events             *eventStore
	puller             *imagePuller
	cpu                *cpuSampler
	evictor            *eviction.Manager
	lastMemoryPressure *v1.NodeCondition
	// pendingEvictions are pods the taint manager will evict later (its
	// goroutine only).
	pendingEvictions map[types.UID]bool
	// taintsChanged wakes the taint manager.
	taintsChanged chan struct{}
	prober        proberAPI
	runCtx        context.Context // the agent's lifetime; pod workers derive from it
	ready         chan struct{}   // closed once Run restored the pods and serves sources
	workerWG      sync.WaitGroup
}

// New checks the options and prepares an agent.
func New(opts Options) (*Agent, error) {
	if opts.Runtime == nil {
		return nil, errors.New("agent: no runtime")
	}
	if opts.RootDir == "" || opts.PodLogsDir == "" || opts.CgroupRoot == "" {
		return nil, errors.New("agent: root dir, pod logs dir and cgroup root are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.ResyncPeriod == 0 {
		opts.ResyncPeriod = DefaultSyncFrequency
	}
	if opts.HealthPeriod == 0 {
		opts.HealthPeriod = time.Second
	}
	a := &Agent{
		opts:      opts,
		rt:        opts.Runtime,
		clock:     opts.Clock,
		log:       opts.Log,
		byName:    map[string]types.UID{},
		workers:   map[types.UID]*podWorker{},
		published: map[types.UID]*v1.Pod{},
		watchers:  map[chan api.WatchEvent]string{},
		events:    newEventStore(opts.Clock, opts.Node.Name),
		cpu:       newCPUSampler(),

		taintsChanged: make(chan struct{}, 1),
		ready:         make(chan struct{}),
	}
	a.instrument()
	a.puller = newImagePuller(a.rt, opts.Clock)
	node, err := newNodeInfo(opts.Node, opts.Clock)
	if err != nil {
		return nil, err
	}
	a.node = node
	if node.oomRestricted {
		a.log.Warn("no CAP_SYS_RESOURCE: oom_score_adj values below the agent's own are clamped to it",
			"floor", node.oomFloor, "guaranteed_intended", oom.GuaranteedScore)
	}
	if err := a.loadNodeState(); err != nil {
		return nil, err
	}
	return a, nil
}

// Source hands desired pods to the agent; it never drives containers itself.
type Source interface {
	Run(ctx context.Context, out chan<- sources.Update) error
}

// Run restores checkpointed pods, re-adopts their containers, serves the
// sources and runs until ctx ends. On return the pods keep running: a later
// Run re-adopts them.
func (a *Agent) Run(ctx context.Context, srcs ...Source) error {
	a.runCtx = ctx
	a.runtimeUp.Store(a.rt.Healthy(ctx) == nil)
	a.startProber()
	if err := a.setupCgroups(); err != nil {
		return fmt.Errorf("pods cgroup: %w", err)
	}
	a.startEviction(ctx)
	if err := a.restore(ctx); err != nil {
		return fmt.Errorf("restore checkpoints: %w", err)
	}
	go a.watchRuntimeEvents(ctx)
	go a.watchRuntimeHealth(ctx)
	go a.runTaintManager(ctx)
	go a.runStatsSampler(ctx)
	close(a.ready)
	updates := make(chan sources.Update)
	for _, s := range srcs {
		go func(s Source) {
			if err := s.Run(ctx, updates); err != nil && ctx.Err() == nil {
				a.log.Error("pod source stopped", "err", err)
			}
		}(s)
	}
	for {
		select {
		case <-ctx.Done():
			a.workerWG.Wait()
			return nil
		case u := <-updates:
			a.applySourceUpdate(u)
		}
	}
}

// key is the namespace/name index key.
func key(namespace, name string) string { return namespace + "/" + name }

// NodeName is the name this node goes by.
func (a *Agent) NodeName() string { return a.node.cfg.Name }

// Ready is closed once Run has restored the checkpointed pods and started
// serving the sources.
func (a *Agent) Ready() <-chan struct{} { return a.ready }
