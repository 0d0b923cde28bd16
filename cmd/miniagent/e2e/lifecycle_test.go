package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

func TestPodSucceeded(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, podYAML("e2e-succeeded", "Never", "echo done"))
	pod := waitPod(t, "e2e-succeeded", 60*time.Second, "Succeeded", phaseIs(v1.PodSucceeded))

	cs := containerStatus(pod, "main")
	if cs == nil {
		t.Fatalf("no status for container main: %+v", pod.Status)
	}
	term := cs.State.Terminated
	if term == nil {
		t.Fatalf("container main state = %+v, want terminated", cs.State)
	}
	if term.Reason != "Completed" || term.ExitCode != 0 {
		t.Errorf("terminated reason %q exitCode %d, want Completed 0", term.Reason, term.ExitCode)
	}
	if term.StartedAt.IsZero() || term.FinishedAt.Before(&term.StartedAt) {
		t.Errorf("terminated startedAt %v finishedAt %v", term.StartedAt, term.FinishedAt)
	}
	if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ContainerID != term.ContainerID {
		t.Errorf("containerID %q, terminated.containerID %q", cs.ContainerID, term.ContainerID)
	}
	if cs.RestartCount != 0 || cs.Ready {
		t.Errorf("restartCount %d ready %v, want 0 false", cs.RestartCount, cs.Ready)
	}
	if cs.Image == "" || cs.ImageID == "" {
		t.Errorf("image %q imageID %q, want both set", cs.Image, cs.ImageID)
	}
	checkCondition(t, pod, v1.PodScheduled, v1.ConditionTrue, "")
	checkCondition(t, pod, v1.PodInitialized, v1.ConditionTrue, "")
	checkCondition(t, pod, v1.ContainersReady, v1.ConditionFalse, "PodCompleted")
	checkCondition(t, pod, v1.PodReady, v1.ConditionFalse, "PodCompleted")
	if pod.Status.StartTime == nil {
		t.Error("status.startTime not set")
	}
	if pod.Status.QOSClass != v1.PodQOSBestEffort {
		t.Errorf("qosClass %q, want BestEffort", pod.Status.QOSClass)
	}
	if got := strings.TrimSpace(logs(t, "e2e-succeeded", "main")); got != "done" {
		t.Errorf("logs = %q, want %q", got, "done")
	}
}

func TestInitContainersRunInOrder(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: e2e-init
spec:
  initContainers:
  - name: init-1
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo init-1 output; sleep 2"]
  - name: init-2
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo init-2 output; sleep 2"]
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo main output; `+foreverScript+`"]
`)
	pod := waitPod(t, "e2e-init", 60*time.Second, "running after its init containers", running)
	checkCondition(t, pod, v1.PodInitialized, v1.ConditionTrue, "")
	if n := len(pod.Status.InitContainerStatuses); n != 2 {
		t.Fatalf("%d init container statuses, want 2: %+v", n, pod.Status.InitContainerStatuses)
	}
	var prevFinished time.Time
	for i, name := range []string{"init-1", "init-2"} {
		cs := pod.Status.InitContainerStatuses[i]
		if cs.Name != name {
			t.Fatalf("initContainerStatuses[%d] is %q, want %q (spec order)", i, cs.Name, name)
		}
		term := cs.State.Terminated
		if term == nil || term.Reason != "Completed" || term.ExitCode != 0 {
			t.Fatalf("%s state %+v, want terminated Completed 0", name, cs.State)
		}
		if term.StartedAt.Time.Before(prevFinished) {
			t.Errorf("%s started %v before the previous init container finished %v", name, term.StartedAt, prevFinished)
		}
		// The API's times are whole seconds and startedAt is taken when the
		// runtime's start returned, a little after the process began (as
		// kubelet's): a 2 s script shows at least 1 s.
		if term.FinishedAt.Time.Sub(term.StartedAt.Time) < time.Second {
			t.Errorf("%s ran %v, its script sleeps 2s", name, term.FinishedAt.Sub(term.StartedAt.Time))
		}
		prevFinished = term.FinishedAt.Time
		if got := strings.TrimSpace(logs(t, "e2e-init", name)); got != name+" output" {
			t.Errorf("logs -c %s = %q, want %q", name, got, name+" output")
		}
	}
	main := containerStatus(pod, "main")
	if main.State.Running.StartedAt.Time.Before(prevFinished) {
		t.Errorf("main started %v before init-2 finished %v", main.State.Running.StartedAt, prevFinished)
	}
	if got := strings.TrimSpace(logs(t, "e2e-init", "main")); got != "main output" {
		t.Errorf("logs -c main = %q, want %q", got, "main output")
	}
}

func TestRestartPolicies(t *testing.T) {
	e2e(t)
	t.Parallel()
	tests := []struct {
		name, policy, script string
		want                 string
		check                func(*v1.Pod) bool
		verify               func(*testing.T, *v1.Pod, *v1.ContainerStatus)
	}{{
		name: "e2e-always-fail", policy: "Always", script: "exit 1",
		want: "Running with restarts and waiting in CrashLoopBackOff",
		check: func(p *v1.Pod) bool {
			cs := containerStatus(p, "main")
			return cs != nil && cs.RestartCount >= 1 && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
		},
		verify: func(t *testing.T, p *v1.Pod, cs *v1.ContainerStatus) {
			if p.Status.Phase != v1.PodRunning {
				t.Errorf("phase %s, want Running (restartPolicy Always)", p.Status.Phase)
			}
			last := cs.LastTerminationState.Terminated
			if last == nil || last.Reason != "Error" || last.ExitCode != 1 {
				t.Errorf("lastState %+v, want terminated Error exitCode 1", cs.LastTerminationState)
			}
			checkCondition(t, p, v1.PodReady, v1.ConditionFalse, "ContainersNotReady")
		},
	}, {
		name: "e2e-always-ok", policy: "Always", script: "exit 0",
		want: "restarted although it exits 0",
		check: func(p *v1.Pod) bool {
			cs := containerStatus(p, "main")
			return cs != nil && cs.RestartCount >= 1
		},
		verify: func(t *testing.T, p *v1.Pod, cs *v1.ContainerStatus) {
			if p.Status.Phase != v1.PodRunning {
				t.Errorf("phase %s, want Running", p.Status.Phase)
			}
			if last := cs.LastTerminationState.Terminated; last == nil || last.Reason != "Completed" {
				t.Errorf("lastState %+v, want terminated Completed", cs.LastTerminationState)
			}
		},
	}, {
		name: "e2e-onfailure-ok", policy: "OnFailure", script: "exit 0",
		want:  "Succeeded",
		check: phaseIs(v1.PodSucceeded),
		verify: func(t *testing.T, p *v1.Pod, cs *v1.ContainerStatus) {
			if cs.RestartCount != 0 || cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
				t.Errorf("restartCount %d state %+v, want 0 and terminated Completed", cs.RestartCount, cs.State)
			}
		},
	}, {
		name: "e2e-onfailure-fail", policy: "OnFailure", script: "exit 3",
		want: "restarted after a failure",
		check: func(p *v1.Pod) bool {
			cs := containerStatus(p, "main")
			return cs != nil && cs.RestartCount >= 1
		},
		verify: func(t *testing.T, p *v1.Pod, cs *v1.ContainerStatus) {
			if p.Status.Phase != v1.PodRunning && p.Status.Phase != v1.PodPending {
				t.Errorf("phase %s, want Running or Pending while restarting", p.Status.Phase)
			}
			if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 3 || last.Reason != "Error" {
				t.Errorf("lastState %+v, want terminated Error exitCode 3", cs.LastTerminationState)
			}
		},
	}, {
		name: "e2e-never-fail", policy: "Never", script: "exit 1",
		want:  "Failed",
		check: phaseIs(v1.PodFailed),
		verify: func(t *testing.T, p *v1.Pod, cs *v1.ContainerStatus) {
			term := cs.State.Terminated
			if cs.RestartCount != 0 || term == nil || term.Reason != "Error" || term.ExitCode != 1 {
				t.Errorf("restartCount %d state %+v, want 0 and terminated Error exitCode 1", cs.RestartCount, cs.State)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			apply(t, podYAML(tc.name, tc.policy, tc.script))
			pod := waitPod(t, tc.name, 60*time.Second, tc.want, tc.check)
			tc.verify(t, pod, containerStatus(pod, "main"))
		})
	}
}

// TestCrashLoopBackOffGaps checks the kubelet's back-off between restarts of
// a crashing container: the first restart at once, then after 10 s, then
// after 20 s. The back-off the agent chose is read from what the status
// shows while the container waits (CrashLoopBackOff with kubelet's
// "back-off 10s ..." message); the gaps between one instance's finish and
// the next one's start must be at least that back-off. Above it, a gap also
// holds the time the runtime takes to create and start the container, which
// a loaded host stretches by seconds: the upper bounds only catch a back-off
// longer than the one shown.
func TestCrashLoopBackOffGaps(t *testing.T) {
	e2e(t)
	t.Parallel()
	const name = "e2e-backoff"
	apply(t, podYAML(name, "Always", "sleep 1; exit 1"))

	// Every instance's start and finish, keyed by container ID, from what the
	// status shows as state and lastState over time.
	type span struct{ started, finished time.Time }
	seen := map[string]*span{}
	record := func(id string, started, finished time.Time) {
		if id == "" {
			return
		}
		s := seen[id]
		if s == nil {
			s = &span{}
			seen[id] = s
		}
		if !started.IsZero() {
			s.started = started
		}
		if !finished.IsZero() {
			s.finished = finished
		}
	}
	// The waiting messages shown before each restart, by the restart count
	// they were shown with.
	waits := map[int32]map[string]bool{}
	waitPod(t, name, 90*time.Second, "restarted 3 times", func(p *v1.Pod) bool {
		cs := containerStatus(p, "main")
		if cs == nil {
			return false
		}
		if r := cs.State.Running; r != nil {
			record(cs.ContainerID, r.StartedAt.Time, time.Time{})
		}
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			if waits[cs.RestartCount] == nil {
				waits[cs.RestartCount] = map[string]bool{}
			}
			waits[cs.RestartCount][w.Reason+": "+w.Message] = true
		}
		for _, term := range []*v1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
			if term != nil {
				record(term.ContainerID, term.StartedAt.Time, term.FinishedAt.Time)
			}
		}
		return cs.RestartCount >= 3 && len(seen) >= 4
	})
	pod := getPod(t, name)
	spans := make([]*span, 0, len(seen))
	for _, s := range seen {
		if s.started.IsZero() {
			t.Fatalf("an instance without a start time: %+v", seen)
		}
		spans = append(spans, s)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].started.Before(spans[j].started) })
	var gaps []time.Duration
	for i := 1; i < len(spans) && i <= 3; i++ {
		if spans[i-1].finished.IsZero() {
			t.Fatalf("instance %d has no finish time", i-1)
		}
		gaps = append(gaps, spans[i].started.Sub(spans[i-1].finished))
	}
	t.Logf("gaps between restarts: %v; waiting states shown: %v", gaps, waits)

	// The back-off shown before each restart: none before the first (it
	// is polled every 150 ms, so a 10 s wait could not go unseen).
	crash := func(delay string) string {
		return fmt.Sprintf("%s: back-off %s restarting failed container=main pod=%s_default(%s)", "CrashLoopBackOff", delay, name, pod.UID)
	}
	for msg := range waits[0] {
		if strings.HasPrefix(msg, "CrashLoopBackOff") {
			t.Errorf("before the first restart the container waited %q; kubelet restarts it at once", msg)
		}
	}
	for count, delay := range map[int32]string{1: "10s", 2: "20s"} {
		if !waits[count][crash(delay)] {
			t.Errorf("with restartCount %d the status never showed %q; it showed %v", count, crash(delay), waits[count])
		}
	}
	// Times in the status have second resolution: 2 s below each back-off;
	// up to 8 s above it for the runtime's create and start under load.
	want := []struct{ min, max time.Duration }{{0, 8 * time.Second}, {8 * time.Second, 18 * time.Second}, {18 * time.Second, 28 * time.Second}}
	for i, w := range want {
		if gaps[i] < w.min || gaps[i] > w.max {
			t.Errorf("gap before restart %d = %v, want between %v and %v", i+1, gaps[i], w.min, w.max)
		}
	}
}
