package kubeletserver

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// The metrics of kubelet's /metrics/resource, the endpoint metrics-server
// scrapes (names, help and labels as kubelet's resource metrics collector).
var (
	nodeCPUDesc = prometheus.NewDesc("node_cpu_usage_seconds_total",
		"Cumulative cpu time consumed by the node in core-seconds", nil, nil)
	nodeMemoryDesc = prometheus.NewDesc("node_memory_working_set_bytes",
		"Current working set of the node in bytes", nil, nil)
	containerCPUDesc = prometheus.NewDesc("container_cpu_usage_seconds_total",
		"Cumulative cpu time consumed by the container in core-seconds", []string{"container", "pod", "namespace"}, nil)
	containerMemoryDesc = prometheus.NewDesc("container_memory_working_set_bytes",
		"Current working set of the container in bytes", []string{"container", "pod", "namespace"}, nil)
	containerStartDesc = prometheus.NewDesc("container_start_time_seconds",
		"Start time of the container since unix epoch in seconds", []string{"container", "pod", "namespace"}, nil)
	podCPUDesc = prometheus.NewDesc("pod_cpu_usage_seconds_total",
		"Cumulative cpu time consumed by the pod in core-seconds", []string{"pod", "namespace"}, nil)
	podMemoryDesc = prometheus.NewDesc("pod_memory_working_set_bytes",
		"Current working set of the pod in bytes", []string{"pod", "namespace"}, nil)
	scrapeErrorDesc = prometheus.NewDesc("resource_scrape_error",
		"1 if there was an error while getting container metrics, 0 otherwise", nil, nil)
)

// resourceCollector exports one Summary (nil: the scrape failed). Samples
// carry the time of their reading, as kubelet's do.
type resourceCollector struct {
	sum *statsv1alpha1.Summary
}

func (c resourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeCPUDesc, nodeMemoryDesc, containerCPUDesc, containerMemoryDesc, containerStartDesc, podCPUDesc, podMemoryDesc, scrapeErrorDesc} {
		ch <- d
	}
}

func (c resourceCollector) Collect(ch chan<- prometheus.Metric) {
	failed := 0.0
	if c.sum == nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, failed)
	if c.sum == nil {
		return
	}
	cpu := func(d *prometheus.Desc, s *statsv1alpha1.CPUStats, labels ...string) {
		if s != nil && s.UsageCoreNanoSeconds != nil {
			ch <- prometheus.NewMetricWithTimestamp(s.Time.Time, prometheus.MustNewConstMetric(d, prometheus.CounterValue,
				float64(*s.UsageCoreNanoSeconds)/float64(time.Second), labels...))
		}
	}
	mem := func(d *prometheus.Desc, s *statsv1alpha1.MemoryStats, labels ...string) {
		if s != nil && s.WorkingSetBytes != nil {
			ch <- prometheus.NewMetricWithTimestamp(s.Time.Time, prometheus.MustNewConstMetric(d, prometheus.GaugeValue,
				float64(*s.WorkingSetBytes), labels...))
		}
	}
	cpu(nodeCPUDesc, c.sum.Node.CPU)
	mem(nodeMemoryDesc, c.sum.Node.Memory)
	for _, p := range c.sum.Pods {
		for _, ct := range p.Containers {
			if ct.StartTime.Unix() > 0 {
				ch <- prometheus.MustNewConstMetric(containerStartDesc, prometheus.GaugeValue,
					float64(ct.StartTime.UnixNano())/float64(time.Second), ct.Name, p.PodRef.Name, p.PodRef.Namespace)
			}
			cpu(containerCPUDesc, ct.CPU, ct.Name, p.PodRef.Name, p.PodRef.Namespace)
			mem(containerMemoryDesc, ct.Memory, ct.Name, p.PodRef.Name, p.PodRef.Namespace)
		}
		cpu(podCPUDesc, p.CPU, p.PodRef.Name, p.PodRef.Namespace)
		mem(podMemoryDesc, p.Memory, p.PodRef.Name, p.PodRef.Namespace)
	}
}

// resourceMetrics serves /metrics/resource from a fresh registry per
// scrape; a failed read of the stats is resource_scrape_error 1.
func (s *Server) resourceMetrics(w http.ResponseWriter, r *http.Request) {
	sum, err := s.summary(r)
	if err != nil {
		s.o.Log.Debug("resource metrics: stats unavailable", "err", err)
		sum = nil
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(resourceCollector{sum: sum}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).ServeHTTP(w, r)
}
