// Package agent is miniagent's pod lifecycle engine: it takes desired pods
// from sources (the manifest directory, the local API), runs one worker
// goroutine per pod that computes the next actions from the pod's spec and
// observed state (computePodActions, a pure function) and executes them
// through a runtime.Runtime, keeps each pod's status in one place, and
// checkpoints it so a restarted agent re-adopts running containers.
//
// Two contexts govern a worker, as in Nomad's task runner: the pod being
// deleted (its containers are stopped gracefully and everything is removed)
// and the agent shutting down (containers keep running and are re-adopted
// on the next start).
package agent
