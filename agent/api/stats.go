package api

import (
	"context"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Summary is the node's and its pods' resource use, shaped like (a small
// part of) kubelet's /stats/summary: CPU as a rate in nanocores over the
// last sampling window, memory as the working set (usage − inactive file).
type Summary struct {
	Node NodeStats  `json:"node"`
	Pods []PodStats `json:"pods"`
}

// NodeStats is the node's use (the root cgroup).
type NodeStats struct {
	NodeName string       `json:"nodeName"`
	CPU      *CPUStats    `json:"cpu,omitempty"`
	Memory   *MemoryStats `json:"memory,omitempty"`
}

// PodStats is one pod's use, by container.
type PodStats struct {
	PodRef     PodReference     `json:"podRef"`
	Containers []ContainerStats `json:"containers"`
}

// PodReference names a pod.
type PodReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
}

// ContainerStats is one running container's use.
type ContainerStats struct {
	Name   string       `json:"name"`
	CPU    *CPUStats    `json:"cpu,omitempty"`
	Memory *MemoryStats `json:"memory,omitempty"`
}

// CPUStats: UsageNanoCores over the window ending at Time.
type CPUStats struct {
	Time                 metav1.Time     `json:"time"`
	Window               metav1.Duration `json:"window"`
	UsageNanoCores       uint64          `json:"usageNanoCores"`
	UsageCoreNanoSeconds uint64          `json:"usageCoreNanoSeconds"`
}

// MemoryStats: the working set at Time.
type MemoryStats struct {
	Time            metav1.Time `json:"time"`
	UsageBytes      uint64      `json:"usageBytes"`
	WorkingSetBytes uint64      `json:"workingSetBytes"`
}

func (s *Server) statsSummary(w http.ResponseWriter, r *http.Request) {
	sum, err := s.b.Stats(r.Context())
	if err != nil {
		WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, sum)
}

// Stats implements Backend.
func (c *Client) Stats(ctx context.Context) (*Summary, error) {
	var sum Summary
	if _, err := c.getJSON(ctx, http.MethodGet, "/stats/summary", nil, nil, &sum); err != nil {
		return nil, err
	}
	return &sum, nil
}
