package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/runtime"
)

func (h *harness) live() []string {
	var ids []string
	for _, c := range h.rt.Containers() {
		if !c.Removed {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

func TestFinishedPodReleasesWhatItHolds(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("done", "Never", []string{"init"}, "app"))
	init := h.waitRunning("done", "init")
	_ = h.rt.Exit(init, 0, h.clock.Now())
	app := h.waitRunning("done", "app")
	_ = h.rt.Exit(app, 0, h.clock.Now())
	h.eventually("Succeeded and released", func() bool {
		return h.pod("done").Status.Phase == v1.PodSucceeded && len(h.rt.Sandboxes()) == 0 && len(h.live()) == 0
	})
	p := h.pod("done")
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" {
		t.Fatalf("app state after release = %+v", p.Status.ContainerStatuses[0].State)
	}
	if term := p.Status.InitContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 {
		t.Fatalf("init state after release = %+v", p.Status.InitContainerStatuses[0].State)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady && c.Status == v1.ConditionTrue {
			t.Fatal("finished pod is Ready")
		}
	}
	// The pod stays listed until deleted.
	if _, err := h.a.DeletePod(context.Background(), "default", "done", nil, true); err != nil {
		t.Fatal(err)
	}
}

func TestTransientStartFailureWaitsAndRetries(t *testing.T) {
	h := newHarness(t)
	h.rt.FailNext("StartContainer", fmt.Errorf("create task: connection reset: %w", runtime.ErrUnavailable))
	h.apply(podYAML("tr", "Never", nil, "app"))
	h.eventually("RunContainerError", func() bool {
		w := h.pod("tr").Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == ReasonRunContainerError && strings.Contains(w.Message, "connection reset")
	})
	p := h.pod("tr")
	if p.Status.Phase != v1.PodPending || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("after a transient failure: phase %s, status %+v", p.Status.Phase, p.Status.ContainerStatuses[0])
	}
	if n := len(h.live()); n != 0 {
		t.Fatalf("%d containers left after the failed start", n)
	}
	// The failed instance's task dies later (its removal killed it): that
	// is no exit of the container.
	for _, c := range h.rt.Containers() {
		h.a.worker(p.UID).requestExit(exitObservation{ID: c.ID, Code: 137, At: h.clock.Now()})
	}
	time.Sleep(20 * time.Millisecond)
	if p := h.pod("tr"); p.Status.Phase != v1.PodPending || p.Status.ContainerStatuses[0].State.Terminated != nil {
		t.Fatalf("after the failed instance's exit: phase %s, state %+v", p.Status.Phase, p.Status.ContainerStatuses[0].State)
	}
	h.eventually("running after the back-off", func() bool {
		h.clock.Step(time.Second)
		time.Sleep(2 * time.Millisecond)
		cs := h.pod("tr").Status.ContainerStatuses[0]
		return cs.State.Running != nil
	})
	if cs := h.pod("tr").Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.LastTerminationState.Terminated != nil {
		t.Fatalf("a failed start counted as a run: %+v", cs)
	}
}

func TestCreateFailureWhileRuntimeAway(t *testing.T) {
	h := newHarness(t)
	h.rt.FailNext("CreateContainer", fmt.Errorf("create container: %w", runtime.ErrUnavailable))
	h.apply(podYAML("cf", "Never", nil, "app"))
	h.eventually("CreateContainerError", func() bool {
		w := h.pod("cf").Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == ReasonCreateContainerError
	})
	if ph := h.pod("cf").Status.Phase; ph != v1.PodPending {
		t.Fatalf("phase = %s", ph)
	}
	h.eventually("running", func() bool {
		h.clock.Step(time.Second)
		time.Sleep(2 * time.Millisecond)
		return h.pod("cf").Status.ContainerStatuses[0].State.Running != nil
	})
}

func TestEvictionStopsAtOnceAndReleases(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("ev", "Always", nil, "app"))
	h.waitRunning("ev", "app")
	uid := h.pod("ev").UID
	if !h.a.evictForPressure(string(uid), "The node was low on resource: memory.") {
		t.Fatal("eviction refused")
	}
	h.eventually("Failed, released", func() bool {
		p := h.pod("ev")
		return p.Status.Phase == v1.PodFailed && p.Status.Reason == "Evicted" && h.a.podCleanedUp(string(uid))
	})
	stops := h.rt.Stops()
	if len(stops) != 1 || stops[0].Grace != 0 {
		t.Fatalf("stops = %+v, want one with grace 0", stops)
	}
	if h.a.evictForPressure(string(uid), "again") {
		t.Fatal("a finished pod was evicted again")
	}
	if len(h.rt.Sandboxes()) != 0 || len(h.live()) != 0 {
		t.Fatalf("evicted pod holds sandboxes %v containers %v", h.rt.Sandboxes(), h.live())
	}
	// Terminal phases never go back.
	h.clock.Step(time.Minute)
	time.Sleep(20 * time.Millisecond)
	if ph := h.pod("ev").Status.Phase; ph != v1.PodFailed {
		t.Fatalf("phase went back to %s", ph)
	}
}

func TestActiveDeadlineExceeded(t *testing.T) {
	h := newHarness(t)
	h.apply(strings.Replace(podYAML("dl", "Always", nil, "app"), "spec:\n", "spec:\n  activeDeadlineSeconds: 30\n", 1))
	h.waitRunning("dl", "app")
	h.clock.Step(29 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if ph := h.pod("dl").Status.Phase; ph != v1.PodRunning {
		t.Fatalf("phase before the deadline = %s", ph)
	}
	h.clock.Step(time.Second)
	h.eventually("DeadlineExceeded", func() bool {
		p := h.pod("dl")
		return p.Status.Phase == v1.PodFailed && p.Status.Reason == ReasonDeadlineExceeded &&
			p.Status.Message == MessageDeadlineExceeded
	})
}

func TestDeleteIsDurableBeforeTheAnswer(t *testing.T) {
	h := newHarness(t)
	h.rt.SetStopExitCode(143)
	p := h.apply(podYAML("dd", "Always", nil, "app"))
	// The desired pod is on disk before ApplyPod returned.
	if _, err := os.Stat(h.a.desiredPath(p.UID)); err != nil {
		t.Fatalf("applied pod not stored: %v", err)
	}
	h.waitRunning("dd", "app")
	h.stop()
	// Deletion acknowledged while the worker cannot act: it must survive.
	h.start()
	h.waitRunning("dd", "app")
	h.rt.SetUnavailable(true)
	h.eventually("Unknown", func() bool {
		h.clock.Step(time.Hour) // health tick
		time.Sleep(time.Millisecond)
		return h.pod("dd").Status.Phase == v1.PodUnknown
	})
	if _, err := h.a.DeletePod(context.Background(), "default", "dd", nil, false); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(h.a.desiredPath(p.UID))
	if err != nil {
		t.Fatal(err)
	}
	var d desiredPod
	var pod v1.Pod
	if json.Unmarshal(data, &d) != nil || json.Unmarshal(d.Pod, &pod) != nil || pod.DeletionTimestamp == nil {
		t.Fatalf("deletion not stored: %s", data)
	}
	h.stop()
	h.rt.SetUnavailable(false)
	h.start()
	h.eventually("deleted after restart", func() bool {
		_, err := h.a.GetPod(context.Background(), "default", "dd")
		return err != nil
	})
	if n := len(h.live()); n != 0 {
		t.Fatalf("%d containers left", n)
	}
	if _, err := os.Stat(h.a.desiredPath(p.UID)); !os.IsNotExist(err) {
		t.Fatalf("desired file left: %v", err)
	}
}

func TestCreatedNeverStartedIsMadeAgainAfterRestart(t *testing.T) {
	h := newHarness(t)
	p := h.apply(podYAML("cn", "Never", nil, "app"))
	first := h.waitRunning("cn", "app")
	h.stop()
	// As if the agent had died between create and start: the checkpoint
	// names a container that exists but never started.
	ckpt := h.a.checkpointPath(p.UID)
	data, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	var rec podRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	if err := h.rt.RemoveContainer(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	spec := runtime.ContainerSpec{ID: "created-only", Image: "docker.io/library/busybox:latest",
		Labels: map[string]string{runtime.LabelPodUID: string(p.UID), runtime.LabelContainerName: "app"}}
	if err := h.rt.CreateContainer(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	in := rec.Containers["app"].Current
	in.ID, in.StartedAt = "created-only", time.Time{}
	data, _ = json.Marshal(&rec)
	if err := writeFileAtomic(ckpt, data); err != nil {
		t.Fatal(err)
	}
	h.start()
	id := h.waitRunning("cn", "app")
	if id == "created-only" || id == first {
		t.Fatalf("running instance %s: the created one was not replaced", id)
	}
	cs := h.pod("cn").Status.ContainerStatuses[0]
	if cs.RestartCount != 0 || cs.LastTerminationState.Terminated != nil {
		t.Fatalf("a never-started container counted as a run: %+v", cs)
	}
	for _, c := range h.rt.Containers() {
		if c.ID == "created-only" && !c.Removed {
			t.Fatal("the never-started container was not removed")
		}
	}
}

func TestProbeKillOfAnOldInstanceIsIgnored(t *testing.T) {
	h := newHarness(t)
	p := h.apply(podYAML("pk", "Always", nil, "app"))
	id := h.waitRunning("pk", "app")
	h.a.KillForProbe(string(p.UID), "not-"+id, "app", "liveness", time.Second, "Container app failed liveness probe, will be restarted")
	h.a.KillForProbe(string(p.UID), id, "app", "liveness", time.Second, "Container app failed liveness probe, will be restarted")
	h.eventually("restarted once", func() bool {
		cs := h.pod("pk").Status.ContainerStatuses[0]
		return cs.RestartCount == 1 && cs.State.Running != nil
	})
	stops := h.rt.Stops()
	if len(stops) != 1 || stops[0].ID != id || stops[0].Grace != 2*time.Second {
		t.Fatalf("stops = %+v, want one of %s with kubelet's 2 s floor", stops, id)
	}
}

// TestStatusNeverShowsCreatingOnceRun follows every published status of a
// crash-looping container and checks kubelet's rules for each.
func TestStatusNeverShowsCreatingOnceRun(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := h.a.WatchPods(ctx, "default")
	h.apply(podYAML("cl", "Always", []string{"init"}, "app"))
	init := h.waitRunning("cl", "init")
	_ = h.rt.Exit(init, 0, h.clock.Now())
	id := h.waitRunning("cl", "app")
	for i := 0; i < 3; i++ {
		_ = h.rt.Exit(id, 1, h.clock.Now())
		h.eventually("restart", func() bool {
			h.clock.Step(time.Second)
			time.Sleep(time.Millisecond)
			next := h.containerID("cl", "app")
			if next != id && h.pod("cl").Status.ContainerStatuses[0].State.Running != nil {
				id = next
				return true
			}
			return false
		})
	}
	cancel()
	ran := false
	var lastCount int32
	for ev := range events {
		if ev.Pod.Name != "cl" {
			continue
		}
		if len(ev.Pod.Status.ContainerStatuses) == 0 {
			continue
		}
		cs := ev.Pod.Status.ContainerStatuses[0]
		if w := cs.State.Waiting; w != nil && ran && (w.Reason == ReasonContainerCreating || w.Reason == ReasonPodInitializing) {
			t.Fatalf("waiting %s after the container ran: %+v", w.Reason, cs)
		}
		if w := cs.State.Waiting; w != nil && !ran && w.Reason == ReasonContainerCreating {
			t.Fatalf("a pod with init containers shows ContainerCreating: %+v", cs)
		}
		if cs.State.Running != nil || cs.State.Terminated != nil {
			ran = true
		}
		if cs.State.Running == nil && (cs.Ready || (cs.Started != nil && *cs.Started)) {
			t.Fatalf("ready/started while not running: %+v", cs)
		}
		if cs.RestartCount < lastCount {
			t.Fatalf("restartCount fell from %d: %+v", lastCount, cs)
		}
		if w := cs.State.Waiting; w != nil && w.Reason == ReasonCrashLoopBackOff && cs.LastTerminationState.Terminated == nil {
			t.Fatalf("CrashLoopBackOff without lastState: %+v", cs)
		}
		lastCount = cs.RestartCount
	}
	if !ran || lastCount != 3 {
		t.Fatalf("saw ran=%v restartCount=%d", ran, lastCount)
	}
}

func TestExitMissedByTheEventStreamIsFoundOnResync(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("lost", "Always", nil, "app"))
	id := h.waitRunning("lost", "app")
	if err := h.rt.LoseExit(id, 2, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.rt.Resync()
	h.eventually("restart after the resync", func() bool {
		cs := h.pod("lost").Status.ContainerStatuses[0]
		return cs.RestartCount == 1 && cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode == 2
	})
}

func TestBackOffEvent(t *testing.T) {
	h := newHarness(t)
	p := h.apply(podYAML("bo", "Always", nil, "app"))
	id := h.waitRunning("bo", "app")
	_ = h.rt.Exit(id, 1, h.clock.Now())
	h.eventually("first restart", func() bool { n := h.containerID("bo", "app"); return n != id && n != "" })
	id = h.waitRunning("bo", "app")
	_ = h.rt.Exit(id, 1, h.clock.Now())
	want := fmt.Sprintf("Back-off restarting failed container app in pod bo_default(%s)", p.UID)
	h.eventually("BackOff event", func() bool {
		for _, e := range h.a.events.list(p.UID) {
			if e.Reason == "BackOff" && e.Type == v1.EventTypeWarning && e.Message == want {
				return true
			}
		}
		return false
	})
}

func TestUnfinishedStateWritesAreRemovedOnRestore(t *testing.T) {
	h := newHarness(t)
	h.stop()
	var left []string
	for _, dir := range []string{"checkpoints", "desired"} {
		p := h.root + "/" + dir + "/.tmp-12345"
		if err := os.MkdirAll(h.root+"/"+dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{half"), 0o600); err != nil {
			t.Fatal(err)
		}
		left = append(left, p)
	}
	h.start()
	for _, p := range left {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after restore: %v", p, err)
		}
	}
}

// TestVanishedContainerIsUnknownAfterRestart: a container believed running
// that the runtime no longer has is ended as ContainerStatusUnknown (137),
// as kubelet shows it, and restarted by the policy.
func TestVanishedContainerIsUnknownAfterRestart(t *testing.T) {
	h := newHarness(t)
	h.apply(podYAML("gone", "Always", nil, "app"))
	id := h.waitRunning("gone", "app")
	h.stop()
	if err := h.rt.RemoveContainer(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.eventually("restarted after ContainerStatusUnknown", func() bool {
		cs := h.pod("gone").Status.ContainerStatuses[0]
		term := cs.LastTerminationState.Terminated
		return cs.RestartCount == 1 && term != nil && term.ExitCode == 137 && term.Reason == "ContainerStatusUnknown"
	})
}

func TestResyncDelay(t *testing.T) {
	for _, tc := range []struct {
		period time.Duration
		r      float64
		want   time.Duration
	}{
		{time.Minute, 0, time.Minute},
		{time.Minute, 0.5, 75 * time.Second},
		{time.Minute, 0.999, time.Minute + 29970*time.Millisecond},
		{10 * time.Second, 0.2, 11 * time.Second},
	} {
		if got := resyncDelay(tc.period, tc.r); got != tc.want {
			t.Errorf("resyncDelay(%v, %v) = %v, want %v", tc.period, tc.r, got, tc.want)
		}
	}
}
