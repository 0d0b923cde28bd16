package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/miniagent/miniagent/agent/api"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
)

// `top pod` and `top node` print the agent's /stats/summary in kubectl
// top's columns: CPU in millicores (rounded up, as a Quantity's
// MilliValue), memory working set in whole Mi; node percentages are of the
// node's allocatable.

var (
	topPodColumns       = []string{"NAME", "CPU(cores)", "MEMORY(bytes)"}
	topContainerColumns = []string{"POD", "NAME", "CPU(cores)", "MEMORY(bytes)"}
	topNodeColumns      = []string{"NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"}
)

// resUse is CPU (nanocores) and memory (working set bytes) of one row.
type resUse struct {
	cpu, mem uint64
}

func (u *resUse) add(c api.ContainerStats) {
	if c.CPU != nil {
		u.cpu += c.CPU.UsageNanoCores
	}
	if c.Memory != nil {
		u.mem += c.Memory.WorkingSetBytes
	}
}

func milliCores(nano uint64) uint64 { return (nano + 999_999) / 1_000_000 }

func formatCPU(nano uint64) string { return fmt.Sprintf("%dm", milliCores(nano)) }

func formatMemory(b uint64) string { return fmt.Sprintf("%dMi", b/(1024*1024)) }

// percent is kubectl's int64(used/available*100) in milli units.
func topPercent(used, available float64) string {
	if available <= 0 {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", int64(used/available*100))
}

// topNodeRow is one `top node` line.
func topNodeRow(name string, st api.NodeStats, alloc v1.ResourceList) []string {
	var u resUse
	cpu, mem := "<unknown>", "<unknown>"
	cpuPct, memPct := "<unknown>", "<unknown>"
	if st.CPU != nil {
		u.cpu = st.CPU.UsageNanoCores
		cpu = formatCPU(u.cpu)
		if q, ok := alloc[v1.ResourceCPU]; ok {
			cpuPct = topPercent(float64(milliCores(u.cpu)), float64(q.MilliValue()))
		}
	}
	if st.Memory != nil {
		u.mem = st.Memory.WorkingSetBytes
		mem = formatMemory(u.mem)
		if q, ok := alloc[v1.ResourceMemory]; ok {
			memPct = topPercent(float64(u.mem)*1000, float64(q.MilliValue()))
		}
	}
	return []string{name, cpu, cpuPct, mem, memPct}
}

func (a *app) top(ctx context.Context, args []string) int {
	fs := a.flagSet("top")
	containers := fs.Bool("containers", false, "show each container (top pod)")
	selector := fs.StringP("selector", "l", "", "label selector (top pod)")
	sortBy := fs.String("sort-by", "", "cpu or memory: the heaviest first")
	noHeaders := fs.Bool("no-headers", false, "omit the table header")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	if len(rest) == 0 {
		return a.fail(errors.New("you must specify a resource: top pod or top node"))
	}
	res, names, err := splitResource(rest)
	if err != nil {
		return a.fail(err)
	}
	if len(names) > 1 {
		return a.fail(errors.New("top accepts at most one name"))
	}
	if *sortBy != "" && *sortBy != "cpu" && *sortBy != "memory" {
		return a.fail(fmt.Errorf("--sort-by accepts only cpu or memory"))
	}
	c := a.client()
	sum, err := c.Stats(ctx)
	if err != nil {
		return a.fail(err)
	}
	tw := newTable(a.stdout)
	switch res {
	case "nodes":
		node, err := c.Node(ctx)
		if err != nil {
			return a.fail(err)
		}
		if len(names) == 1 && names[0] != node.Name {
			return a.fail(apierrors.NewNotFound(v1.Resource("nodes"), names[0]))
		}
		if !*noHeaders {
			writeRow(tw, topNodeColumns)
		}
		writeRow(tw, topNodeRow(node.Name, sum.Node, node.Status.Allocatable))
	case "pods":
		rows, err := a.topPodRows(ctx, sum, names, *selector, *containers, *sortBy)
		if err != nil {
			return a.fail(err)
		}
		if len(rows) == 0 {
			if a.allNS {
				fmt.Fprintln(a.stderr, "No resources found")
			} else {
				fmt.Fprintf(a.stderr, "No resources found in %s namespace.\n", a.namespace)
			}
			return 0
		}
		if !*noHeaders {
			h := topPodColumns
			if *containers {
				h = topContainerColumns
			}
			if a.allNS {
				h = append([]string{"NAMESPACE"}, h...)
			}
			writeRow(tw, h)
		}
		for _, r := range rows {
			writeRow(tw, r)
		}
	default:
		return a.fail(fmt.Errorf("top supports pods and nodes, not %s", res))
	}
	if err := tw.Flush(); err != nil {
		return a.fail(err)
	}
	return 0
}

// topPodRows selects the pods (by name, selector and namespace) and makes
// their rows, one per pod or, with containers, per container.
func (a *app) topPodRows(ctx context.Context, sum *api.Summary, names []string, selector string, containers bool, sortBy string) ([][]string, error) {
	sel := labels.Everything()
	if selector != "" {
		var err error
		if sel, err = labels.Parse(selector); err != nil {
			return nil, err
		}
	}
	podLabels := map[string]labels.Set{}
	if selector != "" {
		pods, err := a.client().ListPods(ctx, a.listNamespace())
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			podLabels[string(p.UID)] = labels.Set(p.Labels)
		}
	}
	type row struct {
		cells []string
		u     resUse
	}
	var rows []row
	found := false
	for _, p := range sum.Pods {
		if ns := a.listNamespace(); ns != "" && p.PodRef.Namespace != ns {
			continue
		}
		if len(names) == 1 && p.PodRef.Name != names[0] {
			continue
		}
		if selector != "" && !sel.Matches(podLabels[p.PodRef.UID]) {
			continue
		}
		found = true
		prefix := []string{}
		if a.allNS {
			prefix = append(prefix, p.PodRef.Namespace)
		}
		if containers {
			for _, c := range p.Containers {
				var u resUse
				u.add(c)
				rows = append(rows, row{append(append([]string(nil), prefix...), p.PodRef.Name, c.Name, formatCPU(u.cpu), formatMemory(u.mem)), u})
			}
			continue
		}
		var u resUse
		for _, c := range p.Containers {
			u.add(c)
		}
		rows = append(rows, row{append(prefix, p.PodRef.Name, formatCPU(u.cpu), formatMemory(u.mem)), u})
	}
	if len(names) == 1 && !found {
		if _, err := a.client().GetPod(ctx, a.namespace, names[0]); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("metrics not available yet for pod %s/%s: it has no running container", a.namespace, names[0])
	}
	switch sortBy {
	case "cpu":
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].u.cpu > rows[j].u.cpu })
	case "memory":
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].u.mem > rows[j].u.mem })
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = r.cells
	}
	return out, nil
}
