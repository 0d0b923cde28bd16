package kubeletserver

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/miniagent/miniagent/agent/api"
)

// Summary turns the agent's resource use into kubelet's stats/v1alpha1
// Summary. Start times come from the pods' status (the pod's startTime,
// a running container's startedAt); nodeStart is the node's (its boot).
// A pod's CPU and memory are the sums of its running containers' (the
// agent reads container cgroups, not the pod's): a restarted container
// starts its counter again, so the pod's cumulative CPU can go down.
func Summary(in *api.Summary, pods []v1.Pod, nodeStart time.Time) statsv1alpha1.Summary {
	out := statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{NodeName: in.Node.NodeName, StartTime: metav1.NewTime(nodeStart),
			CPU: cpuStats(in.Node.CPU), Memory: memoryStats(in.Node.Memory)},
		Pods: []statsv1alpha1.PodStats{},
	}
	byUID := make(map[string]*v1.Pod, len(pods))
	for i := range pods {
		byUID[string(pods[i].UID)] = &pods[i]
	}
	for _, p := range in.Pods {
		ps := statsv1alpha1.PodStats{
			PodRef:     statsv1alpha1.PodReference{Name: p.PodRef.Name, Namespace: p.PodRef.Namespace, UID: p.PodRef.UID},
			Containers: []statsv1alpha1.ContainerStats{},
		}
		pod := byUID[p.PodRef.UID]
		if pod != nil && pod.Status.StartTime != nil {
			ps.StartTime = *pod.Status.StartTime
		}
		var cpus []*api.CPUStats
		var mems []*api.MemoryStats
		for _, c := range p.Containers {
			cs := statsv1alpha1.ContainerStats{Name: c.Name, CPU: cpuStats(c.CPU), Memory: memoryStats(c.Memory)}
			if pod != nil {
				cs.StartTime = containerStart(pod, c.Name)
			}
			ps.Containers = append(ps.Containers, cs)
			cpus, mems = append(cpus, c.CPU), append(mems, c.Memory)
		}
		ps.CPU, ps.Memory = sumCPU(cpus), sumMemory(mems)
		out.Pods = append(out.Pods, ps)
	}
	return out
}

func cpuStats(c *api.CPUStats) *statsv1alpha1.CPUStats {
	if c == nil {
		return nil
	}
	rate, total := c.UsageNanoCores, c.UsageCoreNanoSeconds
	return &statsv1alpha1.CPUStats{Time: c.Time, UsageNanoCores: &rate, UsageCoreNanoSeconds: &total}
}

func memoryStats(m *api.MemoryStats) *statsv1alpha1.MemoryStats {
	if m == nil {
		return nil
	}
	usage, ws := m.UsageBytes, m.WorkingSetBytes
	return &statsv1alpha1.MemoryStats{Time: m.Time, UsageBytes: &usage, WorkingSetBytes: &ws}
}

// sumCPU adds the containers' CPU use, at the latest of their times; nil
// when none has a reading.
func sumCPU(cs []*api.CPUStats) *statsv1alpha1.CPUStats {
	var sum api.CPUStats
	n := 0
	for _, c := range cs {
		if c == nil {
			continue
		}
		n++
		sum.UsageNanoCores += c.UsageNanoCores
		sum.UsageCoreNanoSeconds += c.UsageCoreNanoSeconds
		if c.Time.After(sum.Time.Time) {
			sum.Time = c.Time
		}
	}
	if n == 0 {
		return nil
	}
	return cpuStats(&sum)
}

func sumMemory(ms []*api.MemoryStats) *statsv1alpha1.MemoryStats {
	var sum api.MemoryStats
	n := 0
	for _, m := range ms {
		if m == nil {
			continue
		}
		n++
		sum.UsageBytes += m.UsageBytes
		sum.WorkingSetBytes += m.WorkingSetBytes
		if m.Time.After(sum.Time.Time) {
			sum.Time = m.Time
		}
	}
	if n == 0 {
		return nil
	}
	return memoryStats(&sum)
}

// containerStart is when the named container's current instance started
// running (zero if it is not running).
func containerStart(pod *v1.Pod, name string) metav1.Time {
	for _, list := range [][]v1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for _, st := range list {
			if st.Name == name && st.State.Running != nil {
				return st.State.Running.StartedAt
			}
		}
	}
	return metav1.Time{}
}

// summary reads the agent's stats and pods.
func (s *Server) summary(r *http.Request) (*statsv1alpha1.Summary, error) {
	in, err := s.o.Backend.Stats(r.Context())
	if err != nil {
		return nil, err
	}
	pods, err := s.o.Backend.ListPods(r.Context(), "")
	if err != nil {
		return nil, err
	}
	sum := Summary(in, pods, s.bootAt)
	return &sum, nil
}

func (s *Server) statsSummary(w http.ResponseWriter, r *http.Request) {
	sum, err := s.summary(r)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, sum)
}

// bootTime is the host's boot time from /proc/stat (btime), else now.
func bootTime(now time.Time) time.Time {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return now
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			if sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(sec, 0)
			}
		}
	}
	return now
}
