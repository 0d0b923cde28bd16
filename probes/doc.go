// Package probes runs a container's startup, liveness and readiness probes
// the way the kubelet does.
//
// A Manager holds one worker goroutine per (container instance, probe type).
// Each worker ticks every periodSeconds, never probes before
// initialDelaySeconds after the container started, and flips its result only
// after successThreshold / failureThreshold consecutive results. Until the
// startup probe succeeds, liveness and readiness probes do not run; once it
// succeeds the readiness probe runs at once. A liveness or startup probe that
// fails failureThreshold times is reported once through LivenessHandler and
// its worker then holds until the container instance is removed.
//
// All four handlers are supported: exec (through an Execer, normally the
// runtime), httpGet, tcpSocket and grpc. Network probes connect from inside
// the pod's network namespace: the socket is created on an OS thread that has
// joined the namespace file given in Target.NetNSPath.
//
// Results are published only on change: the Manager calls onChange(podUID)
// whenever Started or Ready of one of the pod's containers changes, and the
// agent reads them back with Manager.Started and Manager.Ready.
//
// At debug level every probe run is logged as msg=probe with its start
// (begin_us, unix µs), latency_us, and late_us: how long after its scheduled
// tick it began. scripts/bench-probes.sh measures probe latency and drift
// from these lines.
package probes
