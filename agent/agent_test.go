package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/agent/metrics"
	"github.com/miniagent/miniagent/runtime"
	"github.com/miniagent/miniagent/runtime/fake"
)

// harness runs an Agent over the fake runtime and a fake clock.
type harness struct {
	t       *testing.T
	clock   *clocktesting.FakeClock
	rt      *fake.Runtime
	a       *Agent
	cancel  context.CancelFunc
	done    chan struct{}
	root    string
	maxPods int
	metrics *metrics.Metrics
	// apiVolumes, if set, is every started agent's Options.APIVolumes.
	apiVolumes APIVolumes
	// cluster is every started agent's NodeConfig.Cluster.
	cluster bool
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clock: clocktesting.NewFakeClock(t0), root: t.TempDir()}
	h.rt = fake.New(h.clock)
	h.rt.AddImage(runtime.ImageInfo{Ref: "docker.io/library/busybox:latest", ID: "docker.io/library/busybox@sha256:abc"})
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start() {
	a, err := New(Options{
		Runtime: h.rt, Clock: h.clock, Log: slog.New(slog.DiscardHandler),
		RootDir: h.root, PodLogsDir: h.root + "/logs", CgroupRoot: "test",
		Node: NodeConfig{Name: "node1", MaxPods: h.maxPods, Cluster: h.cluster}, HealthPeriod: time.Hour,
		Metrics: h.metrics, APIVolumes: h.apiVolumes,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.a, h.cancel, h.done = a, cancel, make(chan struct{})
	go func() { defer close(h.done); _ = a.Run(ctx) }()
	select {
	case <-a.Ready():
	case <-time.After(5 * time.Second):
		h.t.Fatal("agent not ready")
	}
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

// eventually polls cond in real time (workers run on goroutines).
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s", what)
}

func (h *harness) apply(doc string) *v1.Pod {
	h.t.Helper()
	var pod v1.Pod
	if err := yaml.NewYAMLOrJSONDecoder(strings.NewReader(doc), 4096).Decode(&pod); err != nil {
		h.t.Fatal(err)
	}
	out, _, err := h.a.ApplyPod(context.Background(), &pod)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) pod(name string) *v1.Pod {
	h.t.Helper()
	p, err := h.a.GetPod(context.Background(), "default", name)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// containerID returns the runtime ID of the current instance of a container.
func (h *harness) containerID(pod, name string) string {
	p := h.pod(pod)
	for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if cs.Name == name {
			return strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	return ""
}

func (h *harness) waitRunning(pod, name string) string {
	h.t.Helper()
	var id string
	h.eventually(name+" running", func() bool {
		p := h.pod(pod)
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if cs.Name == name && cs.State.Running != nil {
				id = strings.TrimPrefix(cs.ContainerID, "containerd://")
				return true
			}
		}
		return false
	})
	return id
}

func podYAML(name, policy string, inits []string, apps ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  restartPolicy: %s\n", name, policy)
	if len(inits) > 0 {
		b.WriteString("  initContainers:\n")
		for _, n := range inits {
			fmt.Fprintf(&b, "  - name: %s\n    image: busybox\n    imagePullPolicy: IfNotPresent\n", n)
		}
	}
	b.WriteString("  containers:\n")
	for _, n := range apps {
		fmt.Fprintf(&b, "  - name: %s\n    image: busybox\n    imagePullPolicy: IfNotPresent\n", n)
	}
	return b.String()
}

func TestInitContainersRunInOrderThenPodSucceeds(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("p", "Never", []string{"i1", "i2"}, "app"))
	i1 := h.waitRunning("p", "i1")
	if p := h.pod("p"); p.Status.Phase != v1.PodPending || p.Status.ContainerStatuses[0].State.Waiting.Reason != ReasonPodInitializing {
		t.Fatalf("while initializing: phase %s, app state %+v", p.Status.Phase, p.Status.ContainerStatuses[0].State)
	}
	if id := h.containerID("p", "i2"); id != "" {
		t.Fatal("i2 created before i1 finished")
	}
	h.clock.Step(time.Second)
	if err := h.rt.Exit(i1, 0, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	i2 := h.waitRunning("p", "i2")
	if err := h.rt.Exit(i2, 0, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	app := h.waitRunning("p", "app")
	h.eventually("Running phase", func() bool { return h.pod("p").Status.Phase == v1.PodRunning })
	if err := h.rt.Exit(app, 0, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.eventually("Succeeded", func() bool { return h.pod("p").Status.Phase == v1.PodSucceeded })
	p := h.pod("p")
	term := p.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.Reason != "Completed" || term.ExitCode != 0 {
		t.Fatalf("app state = %+v", p.Status.ContainerStatuses[0].State)
	}
	// Order of the runtime calls proves the sequence.
	var starts []string
	for _, c := range h.rt.Calls() {
		if strings.HasPrefix(c, "start ") {
			starts = append(starts, strings.TrimPrefix(c, "start "))
		}
	}
	if len(starts) != 3 || starts[0] != i1 || starts[1] != i2 || starts[2] != app {
		t.Fatalf("start order = %v, want [%s %s %s]", starts, i1, i2, app)
	}
}

func TestCrashLoopBackOffAndRestartCount(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("crash", "Always", nil, "app"))
	id := h.waitRunning("crash", "app")
	// First exit: restarted at once.
	_ = h.rt.Exit(id, 1, h.clock.Now())
	id2 := ""
	h.eventually("first restart", func() bool { id2 = h.containerID("crash", "app"); return id2 != id && id2 != "" })
	h.waitRunning("crash", "app")
	// Second exit: back-off 10 s.
	_ = h.rt.Exit(id2, 1, h.clock.Now())
	h.eventually("CrashLoopBackOff", func() bool {
		w := h.pod("crash").Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == ReasonCrashLoopBackOff
	})
	cs := h.pod("crash").Status.ContainerStatuses[0]
	if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
		t.Fatalf("status in back-off = %+v", cs)
	}
	if !strings.HasPrefix(cs.State.Waiting.Message, "back-off 10s restarting failed container=app pod=crash_default(") {
		t.Fatalf("message = %q", cs.State.Waiting.Message)
	}
	h.clock.Step(9 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if got := h.containerID("crash", "app"); got != id2 {
		t.Fatal("restarted before the back-off ended")
	}
	// Step on in small steps: the worker may arm its timer after a step.
	var id3 string
	h.eventually("restart after the back-off", func() bool {
		h.clock.Step(100 * time.Millisecond)
		time.Sleep(2 * time.Millisecond)
		id3 = h.containerID("crash", "app")
		return id3 != id2 && h.pod("crash").Status.ContainerStatuses[0].State.Running != nil
	})
	if rc := h.pod("crash").Status.ContainerStatuses[0].RestartCount; rc != 2 {
		t.Fatalf("restartCount = %d, want 2", rc)
	}
}

func TestDeleteRemovesEverything(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("del", "Always", []string{"init"}, "a", "b"))
	init := h.waitRunning("del", "init")
	_ = h.rt.Exit(init, 0, h.clock.Now())
	h.waitRunning("del", "a")
	h.waitRunning("del", "b")
	if _, err := h.a.DeletePod(context.Background(), "default", "del", nil, true); err != nil {
		t.Fatal(err)
	}
	for _, c := range h.rt.Containers() {
		if !c.Removed {
			t.Errorf("container %s (%s) not removed", c.ID, c.Labels[runtime.LabelContainerName])
		}
	}
	if sbs := h.rt.Sandboxes(); len(sbs) != 0 {
		t.Errorf("sandboxes left: %+v", sbs)
	}
	if _, err := h.a.GetPod(context.Background(), "default", "del"); err == nil {
		t.Error("pod still visible after delete")
	}
}

func TestAgentRestartReadoptsRunningPod(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("keep", "Always", nil, "app"))
	id := h.waitRunning("keep", "app")
	h.stop()
	calls := len(h.rt.Calls())
	h.start()
	id2 := h.waitRunning("keep", "app")
	if id2 != id {
		t.Fatalf("container replaced on agent restart: %s -> %s", id, id2)
	}
	for _, c := range h.rt.Calls()[calls:] {
		if strings.HasPrefix(c, "create ") || strings.HasPrefix(c, "stop ") {
			t.Fatalf("agent restart touched the container: %s", c)
		}
	}
	// An exit while the agent was away is noticed.
	h.stop()
	_ = h.rt.Exit(id, 3, h.clock.Now())
	h.start()
	h.eventually("restart after exit seen on re-adopt", func() bool {
		p := h.pod("keep")
		return p.Status.ContainerStatuses[0].RestartCount == 1
	})
}

func TestRuntimeDownMeansUnknown(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("u", "Always", nil, "app"))
	h.waitRunning("u", "app")
	h.rt.SetUnavailable(true)
	h.eventually("Unknown phase", func() bool {
		h.clock.Step(time.Hour) // health ticks: three failures in a row
		time.Sleep(time.Millisecond)
		return h.pod("u").Status.Phase == v1.PodUnknown
	})
	h.rt.SetUnavailable(false)
	h.eventually("Running again", func() bool {
		h.clock.Step(time.Hour)
		time.Sleep(time.Millisecond)
		return h.pod("u").Status.Phase == v1.PodRunning
	})
}

func TestImagePullFailureBacksOff(t *testing.T) {
	h := newHarness(t)
	h.rt.SetPullError("docker.io/library/nope:latest", fmt.Errorf("registry unreachable"))
	h.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: img\nspec:\n  containers:\n  - name: c\n    image: nope\n")
	h.eventually("ErrImagePull", func() bool {
		w := h.pod("img").Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == ReasonErrImagePull
	})
	// The worker's next sync, a second later, shows the back-off. Step the
	// clock in small steps: the worker may arm its timer after a step.
	h.eventually("ImagePullBackOff", func() bool {
		w := h.pod("img").Status.ContainerStatuses[0].State.Waiting
		if h.clock.Since(t0) < 5*time.Second {
			h.clock.Step(100 * time.Millisecond)
			time.Sleep(5 * time.Millisecond)
		}
		return w != nil && w.Reason == ReasonImagePullBackOff &&
			w.Message == `Back-off pulling image "nope:latest": ErrImagePull: registry unreachable`
	})
	// The retry waits for the 10 s back-off.
	pulls := func() int {
		n := 0
		for _, c := range h.rt.Calls() {
			if strings.HasPrefix(c, "pull ") {
				n++
			}
		}
		return n
	}
	if n := pulls(); n != 1 {
		t.Fatalf("pulls = %d, want 1", n)
	}
	h.eventually("second pull", func() bool {
		h.clock.Step(500 * time.Millisecond)
		time.Sleep(5 * time.Millisecond)
		return pulls() == 2
	})
	if d := h.clock.Since(t0); d < 10*time.Second {
		t.Fatalf("second pull after %v, before the 10 s back-off", d)
	}
}

// A container whose process ended before the runtime's Start returned (its
// exit time precedes the start time taken then) never shows finishedAt
// before startedAt.
func TestExitBeforeStartTimeKeepsOrder(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("quick", "Never", nil, "app"))
	id := h.waitRunning("quick", "app")
	started := h.pod("quick").Status.ContainerStatuses[0].State.Running.StartedAt
	if err := h.rt.Exit(id, 0, started.Add(-2*time.Second)); err != nil {
		t.Fatal(err)
	}
	h.eventually("Succeeded", func() bool { return h.pod("quick").Status.Phase == v1.PodSucceeded })
	term := h.pod("quick").Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.FinishedAt.Before(&term.StartedAt) || !term.StartedAt.Equal(&started) {
		t.Fatalf("terminated %+v, want startedAt %v kept and finishedAt not before it", term, started)
	}
}
