package probes

import (
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// Manager owns the probe workers of all container instances.
// All methods are safe for concurrent use.
type Manager struct {
	clock    clock.WithTicker
	events   EventRecorder
	killer   LivenessHandler
	onChange func(podUID string)
	log      *slog.Logger
	prober   prober
	start    time.Time      // when the Manager was made; see firstDue
	rand     func() float64 // in [0, 1), for the start jitter
	tickGrid time.Duration  // probe ticks fall on multiples of it; see alignTick
	// execSlots holds a token per exec probe running; its capacity is the
	// exec concurrency bound.
	execSlots chan struct{}
	// preparer readies a container's exec path before its first exec
	// probe (nil: the Execer cannot); prepSlots bounds those at once.
	preparer  ExecPreparer
	prepSlots chan struct{}
	stats     schedStats
	// onWait, if set, is told how long each exec probe waited for its slot.
	onWait func(time.Duration)
	// observe, if set, is told of every probe run that gave a result.
	observe func(Observation)

	// loop runs the plain network probes (nil: each probe has a goroutine;
	// see netloop.go).
	loop   *netLoop
	noLoop bool

	mu         sync.Mutex
	containers map[string]*instance // by container ID
	wg         sync.WaitGroup       // running worker goroutines
}

// instance is the probe state of one container instance.
type instance struct {
	target    Target
	workers   map[ProbeType]*worker
	netnsPath string // pod namespace held open for its network probes, or ""
	// Guarded by Manager.mu.
	started bool // startup probe succeeded, or there is none
	ready   bool // readiness probe succeeded, or there is none
	// prepared is closed once the exec path was readied (nil: no exec
	// probe, or nothing to ready); cancelPrepare stops that early.
	prepared      chan struct{}
	cancelPrepare func()
}

// NewManager returns a Manager whose exec probes go through exec. events,
// killer, onChange and log may be nil. onChange is called from worker
// goroutines with no lock held; like KillForProbe it must not call Stop.
// Options, e.g. WithExecConcurrency, are optional.
func NewManager(exec Execer, clk clock.WithTicker, events EventRecorder, killer LivenessHandler,
	onChange func(podUID string), log *slog.Logger, opts ...Option) *Manager {
	m := newManager(&handlers{exec: exec}, clk, events, killer, onChange, log, opts...)
	m.preparer, _ = exec.(ExecPreparer)
	return m
}

func newManager(p prober, clk clock.WithTicker, events EventRecorder, killer LivenessHandler,
	onChange func(podUID string), log *slog.Logger, opts ...Option) *Manager {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		clock: clk, events: events, killer: killer, onChange: onChange, log: log,
		prober: p, containers: map[string]*instance{},
		start: clk.Now(), rand: rand.Float64, tickGrid: DefaultTickGrid,
		execSlots: make(chan struct{}, DefaultExecConcurrency()),
		prepSlots: make(chan struct{}, DefaultPrepareConcurrency()),
	}
	for _, o := range opts {
		o(m)
	}
	if _, real := p.(*handlers); real && !m.noLoop {
		m.loop = newNetLoop(m)
	}
	return m
}

// WithoutNetLoop gives every network probe a worker goroutine of its own,
// as before the network loop (for benchmarks side by side).
func WithoutNetLoop() Option { return func(m *Manager) { m.noLoop = true } }

// AddContainer starts the workers for a newly started container instance:
// one per probe the container declares. Call it for every running instance,
// with or without probes, so that Started and Ready know it. Adding an ID that
// is already known does nothing.
func (m *Manager) AddContainer(t Target) {
	if t.ContainerID == "" {
		return
	}
	c := t.Container
	if c == nil {
		c = &v1.Container{Name: t.ContainerName}
	}
	inst := &instance{
		target:  t,
		workers: map[ProbeType]*worker{},
		started: c.StartupProbe == nil,
		ready:   c.ReadinessProbe == nil,
	}
	for kind, p := range map[ProbeType]*v1.Probe{Startup: c.StartupProbe, Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe} {
		if p != nil {
			w := newWorker(m, inst, kind, p)
			if m.loop != nil {
				w.plan = planFor(&t, w.spec)
			}
			inst.workers[kind] = w
			if t.NetNSPath != "" && p.Exec == nil {
				inst.netnsPath = t.NetNSPath
			}
		}
	}

	if m.preparer != nil && hasExecProbe(inst.workers) {
		inst.prepared = make(chan struct{})
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.containers[t.ContainerID]; ok {
		return
	}
	m.containers[t.ContainerID] = inst
	m.startPrepare(inst)
	if inst.netnsPath != "" {
		netns.hold(inst.netnsPath)
	}
	for _, w := range inst.workers {
		m.wg.Add(1)
		if w.plan != nil && m.loop.add(w) {
			continue
		}
		go func() {
			defer m.wg.Done()
			w.run()
		}()
	}
	m.log.Debug("probes added", "pod", t.Namespace+"/"+t.PodName, "container", t.ContainerName,
		"id", t.ContainerID, "workers", len(inst.workers))
}

// RemoveContainer stops the workers of one container instance (removed, or
// its process died) and forgets its results. It does not wait for them.
func (m *Manager) RemoveContainer(containerID string) {
	m.mu.Lock()
	inst := m.containers[containerID]
	delete(m.containers, containerID)
	m.mu.Unlock()
	if inst != nil {
		inst.stop()
	}
}

// RemovePod stops the workers of all container instances of a pod.
func (m *Manager) RemovePod(podUID string) {
	var gone []*instance
	m.mu.Lock()
	for id, inst := range m.containers {
		if inst.target.PodUID == podUID {
			gone = append(gone, inst)
			delete(m.containers, id)
		}
	}
	m.mu.Unlock()
	for _, inst := range gone {
		inst.stop()
	}
}

// Stop stops every worker and waits until all of them have returned.
func (m *Manager) Stop() {
	m.mu.Lock()
	all := m.containers
	m.containers = map[string]*instance{}
	m.mu.Unlock()
	for _, inst := range all {
		inst.stop()
	}
	m.wg.Wait()
}

// Started reports whether the container instance's startup probe has
// succeeded; true if it has none. False for unknown instances.
func (m *Manager) Started(containerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.containers[containerID]
	return inst != nil && inst.started
}

// Ready reports whether the container instance is ready: started, and its
// readiness probe has succeeded (or it has none). False for unknown instances.
func (m *Manager) Ready(containerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	inst := m.containers[containerID]
	return inst != nil && inst.started && inst.ready
}

// stop stops the workers of an instance just taken out of Manager.containers.
func (inst *instance) stop() {
	if inst.cancelPrepare != nil {
		inst.cancelPrepare()
	}
	for _, w := range inst.workers {
		w.stop()
	}
	if inst.netnsPath != "" {
		netns.release(inst.netnsPath)
	}
}

func (m *Manager) isStarted(inst *instance) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return inst.started
}

// publish records a worker's new result. It calls onChange only if Started
// or Ready of the instance changed, and triggers the readiness worker as
// soon as the startup probe succeeds. It returns false if the instance has
// been removed meanwhile.
func (m *Manager) publish(w *worker, r result) bool {
	inst := w.inst
	m.mu.Lock()
	if m.containers[inst.target.ContainerID] != inst {
		m.mu.Unlock()
		return false
	}
	beforeStarted, beforeReady := inst.started, inst.started && inst.ready
	switch w.kind {
	case Startup:
		inst.started = r == resultSuccess
	case Readiness:
		inst.ready = r == resultSuccess
	}
	changed := beforeStarted != inst.started || beforeReady != (inst.started && inst.ready)
	var readiness *worker
	if w.kind == Startup && inst.started && !beforeStarted {
		readiness = inst.workers[Readiness]
	}
	m.mu.Unlock()

	if readiness != nil {
		readiness.poke()
	}
	if changed {
		m.log.Debug("probe result changed", "probe", string(w.kind), "result", r.String(),
			"pod", inst.target.Namespace+"/"+inst.target.PodName, "container", inst.target.ContainerName)
		if m.onChange != nil {
			m.onChange(inst.target.PodUID)
		}
	}
	return true
}

// kill asks the LivenessHandler to kill the instance of w.
func (m *Manager) kill(w *worker) {
	t := &w.inst.target
	m.log.Info("probe failed, killing container", "probe", string(w.kind),
		"pod", t.Namespace+"/"+t.PodName, "container", t.ContainerName, "id", t.ContainerID)
	if m.killer != nil {
		m.killer.KillForProbe(t.PodUID, t.ContainerID, t.ContainerName, string(w.kind),
			killGrace(t, w.spec), killMessage(t, w.kind))
	}
}

func (m *Manager) event(podUID, container, eventType, reason, message string) {
	if m.events != nil {
		m.events.Event(podUID, container, eventType, reason, message)
	}
}
