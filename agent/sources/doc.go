// Package sources provides pod sources for the agent, like the kubelet's
// config sources: each source sends Updates carrying its complete desired
// set of pods (SET semantics). FileSource watches a manifest directory for
// static pods; APIServerSource (cluster mode) lists and watches the pods a
// Kubernetes API server binds to this node, mirror pods left out.
//
// What the agent does with a source's set (agent.applySourceUpdate): a
// new UID is admitted and started (unless the source already shows it
// Succeeded or Failed), a missing one is deleted with its own grace
// period, a deletionTimestamp becomes a deletion with the source's grace
// (it only shrinks), and a changed spec, labels or annotations an
// in-place update when the API server's update rules allow it.
package sources
