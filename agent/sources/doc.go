// Package sources provides pod sources for the agent, like the kubelet's
// config sources: each source sends Updates carrying its complete desired
// set of pods (SET semantics). FileSource watches a manifest directory for
// static pods.
package sources
