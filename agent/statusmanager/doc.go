// Package statusmanager writes the status the pod workers compute to a
// Kubernetes API server, as the kubelet's status manager does, for cluster
// mode.
//
// The pod workers stay the only source of a pod's status: they hand each
// new status to SetStatus, which only records it with a version and wakes
// the manager's goroutine. That goroutine syncs a pod whose version moved:
// it reads the pod from the API server, drops the write if the pod there
// has another UID (deleted and re-created), merges (Merge: conditions that
// other components own are kept, the kubelet's own come from the agent,
// DisruptionTarget only together with the move to a terminal phase, and a
// terminal phase never goes back), and sends a strategic-merge patch of
// pods/status whose metadata.uid is a precondition (PatchBytes); a patch
// that would change nothing is not sent. Every resync period (10 s, the
// kubelet's) it also compares each pod's status in the API server (the
// informer's copy when one is given) with the agent's and patches the
// differences, so that writes lost while the API server was unreachable
// catch up.
//
// A pod that is being deleted in the API server (deletionTimestamp set)
// and whose worker reported it finished (terminal, containers and
// resources released) is then deleted with grace period 0 and a UID
// precondition, which is how the kubelet completes a graceful deletion.
// A pod gone from the API server (or there with another UID) is
// forgotten, as is one deleted this way.
//
// The daemon wires it in cluster mode (agent/cluster.Pods): the agent's
// Options.OnPodStatus hands it every published status of the API server's
// pods, keyed by their UID; Options.Cached is the pod source's reflector
// cache.
package statusmanager
