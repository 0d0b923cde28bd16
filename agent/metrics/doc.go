// Package metrics defines the agent's Prometheus metrics and serves them.
//
// The names, labels and buckets are kubelet's (pkg/kubelet/metrics and the
// prober's), so kubelet dashboards and alerts read them unchanged:
//
//	kubelet_pod_start_duration_seconds            first sighting → every app container running
//	kubelet_pod_start_sli_duration_seconds        creationTimestamp → the same, less the image pull window {first_with_network}
//	kubelet_pod_worker_duration_seconds           one pod worker sync {operation_type: create, update, sync}
//	kubelet_running_pods                          pods holding a sandbox (computed at scrape time)
//	kubelet_running_containers                    runtime containers {container_state: created, running, exited, unknown}
//	kubelet_started_pods_total                    sandboxes created
//	kubelet_started_containers_total              containers started {container_type: container, init_container}
//	kubelet_evictions                             pressure evictions {eviction_signal}
//	kubelet_runtime_operations_total              runtime calls {operation_type}
//	kubelet_runtime_operations_duration_seconds   their latency {operation_type}
//	kubelet_runtime_operations_errors_total       the failed ones {operation_type}
//	prober_probe_total                            probe runs {probe_type, result, container, pod, namespace, pod_uid}
//	prober_probe_duration_seconds                 successful probe runs' latency {probe_type, container, pod, namespace}
//
// and miniagent's own:
//
//	miniagent_container_oom_kills_total           OOM kills {namespace, pod, container}
//	miniagent_probe_queue_wait_seconds            how long a due exec probe waited for an exec slot
//
// plus the Go runtime's and the process's collectors. The per-pod series
// (prober_*, miniagent_container_oom_kills_total) are dropped when the pod
// is forgotten, as kubelet drops a prober's series when its worker ends.
//
// Every metric lives in the registry of its Metrics (never the global
// default one), so each test gets a fresh set. The agent holds a *Metrics
// (nil: none) and feeds it through a handful of one-line calls; every
// method does nothing on a nil *Metrics. Runtime calls are counted by a
// runtime.Runtime wrapper (InstrumentRuntime), probes through the probe
// manager's observer (ObserveProbe), and the running pods and containers
// are read from the agent's snapshots at each scrape (SetCounts).
package metrics
