// Package eviction is miniagent's node-pressure eviction manager for
// memory, after kubelet's: hard and soft thresholds on memory.available
// (node capacity minus the node's working set) and
// allocatableMemory.available (the pods cgroup's limit minus its working
// set), soft grace periods, minimum reclaim, the MemoryPressure node
// condition with its transition period, and the ranking that picks the one
// pod evicted per step: pods using more than their memory request first,
// then lower priority, then larger usage above request.
//
// The pure parts (ParseThresholds, ThresholdsMet, Rank, Message) are
// table-tested; Manager.Synchronize is one observe-decide-act step driven
// by an injected clock, and Run calls it every monitoring period. After a
// step that evicted a pod, Run waits (at most 30 s, asking every second)
// until the agent reports the pod cleaned up, its memory given back, and
// steps again at once: the next pod goes only if the signal, observed
// anew, still meets a threshold.
package eviction
