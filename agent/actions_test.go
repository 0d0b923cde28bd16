package agent

import (
	"reflect"
	"sort"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/miniagent/miniagent/runtime"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testPod(policy v1.RestartPolicy, inits []string, apps ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u1"}}
	p.Spec.RestartPolicy = policy
	for _, n := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: n})
	}
	for _, n := range apps {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: n})
	}
	return p
}

// st describes one container's observed state in a test table.
type st struct {
	running  bool
	exited   bool
	code     int32
	finished time.Time
	backoff  backoff
}

func record(pod *v1.Pod, states map[string]st) *podRecord {
	r := &podRecord{Pod: pod, Containers: map[string]*containerRecord{}, Sandbox: nil}
	r.Sandbox = nil
	for name, s := range states {
		c := r.container(name, false)
		c.Backoff = s.backoff
		in := &instance{ID: name + "-id"}
		switch {
		case s.running:
			in.StartedAt = t0
		case s.exited:
			in.StartedAt, in.Exited, in.ExitCode, in.FinishedAt = t0, true, s.code, s.finished
		default:
			continue
		}
		c.Current = in
	}
	return r
}

func TestComputePodActions(t *testing.T) {
	now := t0.Add(time.Minute)
	sidecarPod := testPod(v1.RestartPolicyAlways, []string{"side", "i2"}, "app")
	always := v1.ContainerRestartPolicyAlways
	sidecarPod.Spec.InitContainers[0].RestartPolicy = &always
	cases := []struct {
		name     string
		pod      *v1.Pod
		states   map[string]st
		start    []string
		kill     []string
		terminal v1.PodPhase
		waiting  string // reason expected on the container named in waitOn
		waitOn   string
	}{
		{name: "fresh pod starts the first init container only",
			pod: testPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "a", "b"), start: []string{"i1"}},
		{name: "running init container blocks the rest",
			pod: testPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "a"), states: map[string]st{"i1": {running: true}}},
		{name: "completed init starts the next",
			pod: testPod(v1.RestartPolicyAlways, []string{"i1", "i2"}, "a"), states: map[string]st{"i1": {exited: true}}, start: []string{"i2"}},
		{name: "all inits done starts every app container",
			pod:    testPod(v1.RestartPolicyAlways, []string{"i1"}, "a", "b"),
			states: map[string]st{"i1": {exited: true}}, start: []string{"a", "b"}},
		{name: "failed init with Never fails the pod",
			pod: testPod(v1.RestartPolicyNever, []string{"i1"}, "a"), states: map[string]st{"i1": {exited: true, code: 1, finished: t0}},
			terminal: v1.PodFailed},
		{name: "failed init with OnFailure restarts it",
			pod: testPod(v1.RestartPolicyOnFailure, []string{"i1"}, "a"), states: map[string]st{"i1": {exited: true, code: 1, finished: t0}},
			start: []string{"i1"}},
		{name: "failed init in back-off waits",
			pod:    testPod(v1.RestartPolicyAlways, []string{"i1"}, "a"),
			states: map[string]st{"i1": {exited: true, code: 1, finished: now.Add(-time.Second), backoff: backoff{Delay: 10 * time.Second, LastUpdate: now.Add(-5 * time.Second)}}},
			waitOn: "i1", waiting: ReasonCrashLoopBackOff},
		{name: "Always restarts a completed container",
			pod: testPod(v1.RestartPolicyAlways, nil, "a"), states: map[string]st{"a": {exited: true, finished: t0}}, start: []string{"a"}},
		{name: "OnFailure does not restart exit 0, pod succeeds",
			pod: testPod(v1.RestartPolicyOnFailure, nil, "a"), states: map[string]st{"a": {exited: true, finished: t0}}, terminal: v1.PodSucceeded},
		{name: "OnFailure restarts exit 1",
			pod: testPod(v1.RestartPolicyOnFailure, nil, "a"), states: map[string]st{"a": {exited: true, code: 1, finished: t0}}, start: []string{"a"}},
		{name: "Never with one failure fails once all are done",
			pod:    testPod(v1.RestartPolicyNever, nil, "a", "b"),
			states: map[string]st{"a": {exited: true, finished: t0}, "b": {exited: true, code: 2, finished: t0}}, terminal: v1.PodFailed},
		{name: "Never keeps running while one container runs",
			pod:    testPod(v1.RestartPolicyNever, nil, "a", "b"),
			states: map[string]st{"a": {exited: true, code: 2, finished: t0}, "b": {running: true}}},
		{name: "crash loop back-off holds the restart",
			pod: testPod(v1.RestartPolicyAlways, nil, "a"),
			states: map[string]st{"a": {exited: true, code: 1, finished: now.Add(-3 * time.Second),
				backoff: backoff{Delay: 20 * time.Second, LastUpdate: now.Add(-30 * time.Second)}}},
			waitOn: "a", waiting: ReasonCrashLoopBackOff},
		{name: "back-off over restarts",
			pod: testPod(v1.RestartPolicyAlways, nil, "a"),
			states: map[string]st{"a": {exited: true, code: 1, finished: now.Add(-21 * time.Second),
				backoff: backoff{Delay: 20 * time.Second, LastUpdate: now.Add(-40 * time.Second)}}},
			start: []string{"a"}},
		{name: "sidecar starts, and the next init waits for it to be started",
			pod: sidecarPod, start: []string{"side"}},
		{name: "running sidecar lets the next init run",
			pod: sidecarPod, states: map[string]st{"side": {running: true}}, start: []string{"i2"}},
		{name: "sidecar is stopped when the app is done (OnFailure style completion)",
			pod: func() *v1.Pod {
				p := sidecarPod.DeepCopy()
				p.Spec.RestartPolicy = v1.RestartPolicyNever
				return p
			}(),
			states:   map[string]st{"side": {running: true}, "i2": {exited: true}, "app": {exited: true, finished: t0}},
			terminal: v1.PodSucceeded, kill: []string{"side"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := record(tc.pod, tc.states)
			a := computePodActions(r, now)
			if !a.CreateSandbox {
				t.Error("a pod without sandbox must create one")
			}
			if !reflect.DeepEqual(a.Start, tc.start) {
				t.Errorf("start = %v, want %v", a.Start, tc.start)
			}
			if !reflect.DeepEqual(a.Kill, tc.kill) {
				t.Errorf("kill = %v, want %v", a.Kill, tc.kill)
			}
			if a.Terminal != tc.terminal {
				t.Errorf("terminal = %q, want %q", a.Terminal, tc.terminal)
			}
			if tc.waitOn != "" {
				if got := a.Waiting[tc.waitOn].Reason; got != tc.waiting {
					t.Errorf("waiting on %s = %q, want %q", tc.waitOn, got, tc.waiting)
				}
				if a.WakeAt.IsZero() || !a.WakeAt.After(now) {
					t.Errorf("WakeAt = %v, want the end of the back-off", a.WakeAt)
				}
			}
		})
	}
}

func TestCrashLoopMessage(t *testing.T) {
	now := t0.Add(time.Minute)
	pod := testPod(v1.RestartPolicyAlways, nil, "a")
	r := record(pod, map[string]st{"a": {exited: true, code: 1, finished: now, backoff: backoff{Delay: 40 * time.Second, LastUpdate: now}}})
	a := computePodActions(r, now)
	want := "back-off 40s restarting failed container=a pod=p_default(u1)"
	if got := a.Waiting["a"].Message; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	if got := a.WakeAt; !got.Equal(now.Add(40 * time.Second)) {
		t.Fatalf("wake at %v, want %v", got, now.Add(40*time.Second))
	}
}

func TestTerminalPodStartsNothing(t *testing.T) {
	pod := testPod(v1.RestartPolicyAlways, nil, "a")
	r := record(pod, map[string]st{"a": {exited: true, code: 1, finished: t0}})
	r.Terminal = v1.PodFailed
	if a := computePodActions(r, t0.Add(time.Hour)); len(a.Start) != 0 || a.CreateSandbox {
		t.Fatalf("terminal pod got actions %+v", a)
	}
}

// TestComputePodActionsEnds covers the cases decided outside the start
// logic: deletion, rejection, finished pods, deadlines, never-started and
// exited instances.
func TestComputePodActionsEnds(t *testing.T) {
	now := t0.Add(time.Minute)
	pod := func() *v1.Pod { return testPod(v1.RestartPolicyAlways, nil, "a", "b") }
	withSandbox := func(r *podRecord) *podRecord { r.Sandbox = &runtime.Sandbox{PodUID: "u1"}; return r }
	deadline := int64(30)
	cases := []struct {
		name    string
		rec     func() *podRecord
		kill    []string
		remove  []string
		start   []string
		release bool
		finish  bool
		term    v1.PodPhase
		reason  string
	}{
		{name: "deleting pod stops what runs and removes what does not",
			rec: func() *podRecord {
				r := withSandbox(record(pod(), map[string]st{"a": {running: true}, "b": {exited: true, code: 1, finished: t0}}))
				r.Deleting = true
				return r
			}, kill: []string{"a"}, remove: []string{"b-id"}},
		{name: "deleting pod with nothing left finishes",
			rec: func() *podRecord {
				r := withSandbox(record(pod(), map[string]st{"a": {exited: true}, "b": {exited: true}}))
				for _, c := range r.Containers {
					c.Current.Removed = true
				}
				r.Deleting = true
				return r
			}, finish: true},
		{name: "deleting pod retries a stale container first",
			rec: func() *podRecord {
				r := record(pod(), nil)
				r.Deleting, r.Stale = true, []string{"half-made"}
				return r
			}, remove: []string{"half-made"}},
		{name: "rejected pod does nothing",
			rec: func() *podRecord { r := record(pod(), nil); r.Rejected = true; return r }},
		{name: "evicted pod stops its containers",
			rec: func() *podRecord {
				r := withSandbox(record(pod(), map[string]st{"a": {running: true}, "b": {running: true}}))
				r.Terminal = v1.PodFailed
				return r
			}, kill: []string{"a", "b"}},
		{name: "finished pod with everything removed releases once",
			rec: func() *podRecord {
				r := withSandbox(record(pod(), map[string]st{"a": {exited: true}}))
				r.Containers["a"].Current.Removed = true
				r.Terminal = v1.PodSucceeded
				return r
			}, release: true},
		{name: "released pod does nothing more",
			rec: func() *podRecord {
				r := record(pod(), map[string]st{"a": {exited: true}})
				r.Containers["a"].Current.Removed = true
				r.Terminal, r.Released = v1.PodSucceeded, true
				return r
			}},
		{name: "exited instance is removed while its restart is decided",
			rec: func() *podRecord {
				return withSandbox(record(pod(), map[string]st{"a": {exited: true, code: 1, finished: t0}, "b": {running: true}}))
			}, remove: []string{"a-id"}, start: []string{"a"}},
		{name: "never-started instance is made again, not waited for",
			rec: func() *podRecord {
				r := withSandbox(record(pod(), map[string]st{"b": {running: true}}))
				r.container("a", false).Current = &instance{ID: "a-created", CreatedAt: t0}
				return r
			}, start: []string{"a"}},
		{name: "deadline passed fails the pod and stops it",
			rec: func() *podRecord {
				r := withSandbox(record(pod(), map[string]st{"a": {running: true}, "b": {running: true}}))
				r.Pod.Spec.ActiveDeadlineSeconds = &deadline
				r.StartTime = now.Add(-31 * time.Second)
				return r
			}, kill: []string{"a", "b"}, term: v1.PodFailed, reason: ReasonDeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := computePodActions(tc.rec(), now)
			sort.Strings(a.Kill)
			if !reflect.DeepEqual(a.Kill, tc.kill) || !reflect.DeepEqual(a.Remove, tc.remove) || !reflect.DeepEqual(a.Start, tc.start) {
				t.Errorf("kill %v remove %v start %v, want %v %v %v", a.Kill, a.Remove, a.Start, tc.kill, tc.remove, tc.start)
			}
			if a.Release != tc.release || a.Finish != tc.finish {
				t.Errorf("release %v finish %v, want %v %v", a.Release, a.Finish, tc.release, tc.finish)
			}
			if a.Terminal != tc.term || a.TerminalReason != tc.reason {
				t.Errorf("terminal %q %q, want %q %q", a.Terminal, a.TerminalReason, tc.term, tc.reason)
			}
			if len(a.Start) > 0 && a.CreateSandbox {
				t.Error("a pod with a sandbox must not create another")
			}
		})
	}
	// Before the deadline, the worker wakes at it.
	r := record(pod(), map[string]st{"a": {running: true}, "b": {running: true}})
	r.Pod.Spec.ActiveDeadlineSeconds = &deadline
	r.StartTime = now.Add(-10 * time.Second)
	if a := computePodActions(r, now); a.Terminal != "" || !a.WakeAt.Equal(now.Add(20*time.Second)) {
		t.Fatalf("before the deadline: %+v", a)
	}
}
