// Package probes runs a container's startup, liveness and readiness probes
// the way the kubelet does.
//
// A Manager holds one worker per (container instance, probe type). Each
// worker ticks every periodSeconds, never probes before
// initialDelaySeconds after the container started, and flips its result only
// after successThreshold / failureThreshold consecutive results. Until the
// startup probe succeeds, liveness and readiness probes do not run; once it
// succeeds the readiness probe runs at once. A liveness or startup probe that
// fails failureThreshold times is reported once through LivenessHandler and
// its worker then holds until the container instance is removed.
//
// All four handlers are supported: exec (through an Execer, normally the
// runtime), httpGet, tcpSocket and grpc. Network probes connect from inside
// the pod's network namespace: the probe's socket is created while its
// thread has joined the namespace file given in Target.NetNSPath (see
// netns.go); each probe opens a new connection, as the kubelet's do.
//
// A worker runs on a goroutine of its own, except a plain network probe
// (HTTP to an IP address, or TCP; see planFor): those all run on the
// Manager's network loop, one goroutine that keeps their schedules and
// drives their non-blocking sockets through an epoll instance of its own
// (netloop.go). The schedule, the gate before a probe and what a result
// does are the workers' own on both paths; answers the loop does not read
// itself (redirects, anything http.ReadResponse must parse) are finished
// by the same code the goroutines run.
//
// # Spreading and bounding the work
//
// Start jitter. Like the kubelet's worker, a worker that starts within one
// period of the Manager's creation (an agent restart re-adopting its
// containers) first waits a random fraction of its period, drawn from
// [0, period). The kubelet sleeps that long and then probes on its ticks,
// skipping ticks until initialDelaySeconds have passed; here the first
// probe runs at the later of the jittered moment and the end of the initial
// delay, and ticks count from it. Also unlike the kubelet, an instance whose
// first probe is already a full period overdue when its worker starts is
// jittered the same way whenever that happens (a re-adoption that took the
// agent longer than a period); a fresh container is probed at
// initialDelaySeconds exactly, as before.
//
// Tick grid. Ticks (and the start jitter's draws) fall on multiples of
// DefaultTickGrid, 250 ms since the Unix epoch (WithTickGrid changes it;
// 0 turns it off). A worker's ticks are one period apart from the first
// grid point at or after its first probe, so that workers sharing a grid
// point are woken by one expiry of the Go runtime's timers instead of one
// idle wake-up each: on this project's 2-core machine that cut an idle
// HTTP probe's cost from ~500 to ~150 µs of CPU (BenchmarkProbeFleet).
// The first probe of a fresh container still runs exactly at
// initialDelaySeconds; the next comes one period plus up to 250 ms later,
// then one period apart. The kubelet does not align ticks; its first probe
// can come up to a whole period late (it sleeps a random fraction of the
// period first) and its ticks then run from whenever that was.
//
// Exec concurrency. At most WithExecConcurrency(n) exec probes run at once
// in a Manager, default DefaultExecConcurrency() = max(4, 2×NumCPU); a probe
// that finds no free slot waits for one (first come, first served). Network probes
// are not bounded. The kubelet has no such bound: every worker calls the
// runtime's ExecSync as soon as its tick comes, however many are running.
//
// Timeouts and queueing. The kubelet starts counting timeoutSeconds when
// its CRI ExecSync call starts (its gRPC deadline is the call's start plus
// timeoutSeconds plus the runtime request timeout; containerd's own timer
// starts once the exec process started). Here the probe's timeout starts
// when the probe starts running, after it got its exec slot: the runtime's
// Exec is called only then and, as in containerd, times the command from
// the start of its process; a runtime call that hangs fails the probe
// after timeoutSeconds plus 2 min, the kubelet's slack. Time spent waiting
// for a slot therefore never fails a probe, and it is not part of the
// probe's latency; it is measured on its own. A worker whose probe (wait included) runs past its next tick
// skips the ticks it missed, as the kubelet's ticker does, and probes on the
// next one.
//
// Saturation. Waits and misses are counted in Manager.Stats (exec waits and
// their total and longest time, LateStarts: probes that waited for a slot
// longer than their period, MissedTicks), for the agent to export as
// metrics, and logged as a warning, "probes are falling behind their
// schedule", at most every 30 s with what happened since the last one.
//
// Results are published only on change: the Manager calls onChange(podUID)
// whenever Started or Ready of one of the pod's containers changes, and the
// agent reads them back with Manager.Started and Manager.Ready.
//
// At debug level every probe run is logged as msg=probe with its start
// (begin_us, unix µs, once it had its exec slot), latency_us, late_us: how
// long after its scheduled tick it began, and wait_us: how much of that it
// waited for an exec slot. scripts/bench-probes.sh measures probe latency
// and drift from these lines.
package probes
