package cli

import (
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TableColumn is one column of a kubectl table: its name and whether
// kubectl shows it only with -o wide.
type TableColumn struct {
	Name string
	Wide bool
}

// tableColumns lists wide in order, marking those not in basic.
func tableColumns(wide, basic []string) []TableColumn {
	out := make([]TableColumn, len(wide))
	for i, n := range wide {
		out[i] = TableColumn{Name: n, Wide: !slices.Contains(basic, n)}
	}
	return out
}

// Kubectl's columns for pods, events and nodes in their -o wide order, as
// `get` prints them; the rows below have one cell per column.
var (
	PodTableColumns   = tableColumns(append(slices.Clone(podColumns), podWideColumns...), podColumns)
	EventTableColumns = tableColumns(eventWideColumns, eventColumns)
	NodeTableColumns  = tableColumns(append(slices.Clone(nodeColumns), nodeWideColumns...), nodeColumns)
)

// PodTableRow is the wide `get pods` row of pod, for a server that renders
// the Kubernetes Table format (agent/kubeapi).
func PodTableRow(pod *v1.Pod, now time.Time) []string { return podRow(pod, now, true) }

// EventTableRow is the wide `get events` row of e.
func EventTableRow(e *v1.Event, now time.Time) []string { return eventRow(e, now, true) }

// NodeTableRow is the wide `get nodes` row of n.
func NodeTableRow(n *v1.Node, now time.Time) []string { return nodeRow(n, now, true) }
