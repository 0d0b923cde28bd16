// Package agent is miniagent's pod lifecycle engine. Sources (the manifest
// directory, the local API and, in cluster mode, the API server) hand it
// desired pods; the pod configuration
// (config.go) stores each one durably before it is acknowledged and starts
// one worker goroutine per pod.
//
// The worker owns its pod, as kubelet's pod workers do: it alone changes
// the pod's record and calls the runtime for it. Everything else (deletion,
// eviction, the taint manager, failed probes, the runtime's exit events)
// sends it requests (inbox.go). Each sync folds the requests in, lets the
// pure computePodActions decide the next step, executes it through a
// runtime.Runtime, checkpoints the record and publishes an immutable
// snapshot rendered by the side-effect-free renderPod; readers (the API,
// admission, eviction) only ever see snapshots; Options.OnPodStatus (the
// cluster mode's status manager) is told each one.
//
// Two contexts govern a worker, as in Nomad's task runner: the pod being
// deleted (its containers are stopped gracefully and everything is removed)
// and the agent shutting down (containers keep running and are re-adopted
// on the next start).
package agent
