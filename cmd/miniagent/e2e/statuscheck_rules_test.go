package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// These run without MINIAGENT_E2E: they check the checker.

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(sec int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(sec) * time.Second)) }

const (
	idA = "containerd://aaaaaaaaaaaaaaaaaaaaaaaa"
	idB = "containerd://bbbbbbbbbbbbbbbbbbbbbbbb"
	idC = "containerd://cccccccccccccccccccccccc"
)

func boolp(b bool) *bool { return &b }

func waitingCS(name, reason string) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: reason}}, Started: boolp(false)}
}

func createdCS(name, id string) v1.ContainerStatus {
	cs := waitingCS(name, "")
	cs.ContainerID = id
	return cs
}

func runningCS(name, id string) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, ContainerID: id, Ready: true, Started: boolp(true),
		State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: at(1)}}}
}

func exitedCS(name, id string, code int32) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, ContainerID: id, Started: boolp(false),
		State: v1.ContainerState{Terminated: terminated(id, code)}}
}

func terminated(id string, code int32) *v1.ContainerStateTerminated {
	return &v1.ContainerStateTerminated{ContainerID: id, ExitCode: code, StartedAt: at(1), FinishedAt: at(2)}
}

// restarted gives cs restart count n and lastState the death of instance last.
func restarted(cs v1.ContainerStatus, n int32, last string, code int32) v1.ContainerStatus {
	cs.RestartCount = n
	cs.LastTerminationState = v1.ContainerState{Terminated: terminated(last, code)}
	return cs
}

const crashMsg = "back-off 10s restarting failed container=main pod=web_default(u1)"

// crashLoopCS is kubelet's back-off status after instance id died.
func crashLoopCS(id string, n int32, code int32) v1.ContainerStatus {
	cs := restarted(waitingCS("main", reasonCrashLoop), n, id, code)
	cs.ContainerID = id
	cs.State.Waiting.Message = crashMsg
	return cs
}

// testPod is pod web (restartPolicy policy) with one app container per
// status, with the phase and conditions kubelet derives from them.
func testPod(policy v1.RestartPolicy, phase v1.PodPhase, cs ...v1.ContainerStatus) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	p.Spec.RestartPolicy = policy
	for _, c := range cs {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: c.Name})
	}
	p.Status = v1.PodStatus{Phase: phase, StartTime: &metav1.Time{Time: t0}, ContainerStatuses: cs}
	ready := phase == v1.PodRunning
	for _, c := range cs {
		ready = ready && c.Ready
	}
	set(p, v1.PodScheduled, true)
	set(p, v1.PodInitialized, true)
	set(p, v1.ContainersReady, ready)
	set(p, v1.PodReady, ready)
	return p
}

// withInit adds init containers (a sidecar if its name starts with "side").
func withInit(p *v1.Pod, cs ...v1.ContainerStatus) *v1.Pod {
	always := v1.ContainerRestartPolicyAlways
	done := true
	for _, c := range cs {
		spec := v1.Container{Name: c.Name}
		if strings.HasPrefix(c.Name, "side") {
			spec.RestartPolicy = &always
			done = done && isTrue(c.Started)
		} else {
			done = done && c.Ready
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, spec)
	}
	p.Status.InitContainerStatuses = cs
	set(p, v1.PodInitialized, done || anyAppStarted(&p.Status))
	return p
}

// set gives condition typ the status, at t0 unless it is already there.
func set(p *v1.Pod, typ v1.PodConditionType, ok bool) *v1.Pod {
	s := v1.ConditionFalse
	if ok {
		s = v1.ConditionTrue
	}
	if c := findCondition(p.Status.Conditions, typ); c != nil {
		c.Status = s
		return p
	}
	p.Status.Conditions = append(p.Status.Conditions, v1.PodCondition{Type: typ, Status: s, LastTransitionTime: at(0)})
	return p
}

func edit(p *v1.Pod, f func(*v1.Pod)) *v1.Pod { f(p); return p }

func TestCheckTransition(t *testing.T) {
	const (
		always, never, onFailure  = v1.RestartPolicyAlways, v1.RestartPolicyNever, v1.RestartPolicyOnFailure
		pending, running, ok, bad = v1.PodPending, v1.PodRunning, v1.PodSucceeded, v1.PodFailed
	)
	app := func(policy v1.RestartPolicy, phase v1.PodPhase, cs v1.ContainerStatus) *v1.Pod {
		return testPod(policy, phase, cs)
	}
	tests := []struct {
		name       string
		prev, next *v1.Pod
		want       string // a substring of the error; "" = no violation
	}{
		// Statuses kubelet shows.
		{"first sight, creating", nil, app(always, pending, waitingCS("main", reasonCreating)), ""},
		{"creating to created", app(always, pending, waitingCS("main", reasonCreating)), app(always, pending, createdCS("main", idA)), ""},
		{"created to running", app(always, pending, createdCS("main", idA)), app(always, running, runningCS("main", idA)), ""},
		{"death stays terminated", app(always, running, runningCS("main", idA)), app(always, running, exitedCS("main", idA, 1)), ""},
		{"immediate first restart", app(always, running, exitedCS("main", idA, 1)), app(always, running, restarted(runningCS("main", idB), 1, idA, 1)), ""},
		{"new instance created", app(always, running, exitedCS("main", idA, 1)), app(always, running, restarted(createdCS("main", idB), 1, idA, 1)), ""},
		{"second death backs off", app(always, running, restarted(exitedCS("main", idB, 1), 1, idA, 1)), app(always, running, crashLoopCS(idB, 1, 1)), ""},
		{"skipped statuses to a back-off", app(always, running, runningCS("main", idA)), app(always, running, crashLoopCS(idB, 1, 1)), ""},
		{"back-off ends", app(always, running, crashLoopCS(idB, 1, 1)), app(always, running, restarted(runningCS("main", idC), 2, idB, 1)), ""},
		{"agent restart forgets the back-off", app(always, running, crashLoopCS(idB, 1, 1)), app(always, running, restarted(exitedCS("main", idB, 1), 1, idA, 1)), ""},
		{"succeeded", app(never, running, runningCS("main", idA)), app(never, ok, exitedCS("main", idA, 0)), ""},
		{"runtime lost it", app(always, running, runningCS("main", idA)),
			app(always, running, mod(restarted(waitingCS("main", reasonCreating), 1, "", 137), func(cs *v1.ContainerStatus) {
				cs.LastTerminationState.Terminated.Reason = reasonUnknown
			})), ""},
		{"init pod initializing", nil, set(withInit(app(always, pending, waitingCS("main", reasonInitializing)), waitingCS("init", reasonInitializing)), v1.PodInitialized, false), ""},
		{"init done", nil, withInit(app(always, running, runningCS("main", idB)), mod(exitedCS("init", idA, 0), func(cs *v1.ContainerStatus) { cs.Ready = true })), ""},
		{"sidecar", nil, withInit(app(always, running, runningCS("main", idB)), runningCS("side", idA)), ""},
		{"rejected", nil, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u1"}, Status: v1.PodStatus{Phase: bad, Reason: "OutOfmemory"}}, ""},
		{"condition changes later", app(always, running, runningCS("main", idA)),
			edit(app(always, running, exitedCS("main", idA, 1)), func(p *v1.Pod) { p.Status.Conditions[3].LastTransitionTime = at(5) }), ""},

		// Default waiting reasons.
		{"creating with init containers", nil, withInit(app(always, pending, waitingCS("main", reasonCreating)), waitingCS("init", reasonInitializing)), "with init containers"},
		{"initializing without", nil, app(always, pending, waitingCS("main", reasonInitializing)), "without init containers"},
		{"created shown as creating", app(always, pending, waitingCS("main", reasonCreating)),
			app(always, pending, mod(waitingCS("main", reasonCreating), func(cs *v1.ContainerStatus) { cs.ContainerID = idA })), "waiting ContainerCreating with a containerID"},
		{"creating again after running", app(always, running, runningCS("main", idA)), app(always, pending, waitingCS("main", reasonCreating)), "forgot it has run"},
		{"initializing after a restart", withInit(app(always, running, restarted(runningCS("main", idB), 1, idA, 1)), runningCS("side", idC)),
			withInit(app(always, pending, restarted(waitingCS("main", reasonInitializing), 1, idA, 1)), runningCS("side", idC)), "waiting PodInitializing after the container has run"},
		{"created without a new instance", app(always, running, runningCS("main", idA)), app(always, running, createdCS("main", idA)), "without a new instance"},

		// Restart count and instances.
		{"restartCount falls", app(always, running, restarted(runningCS("main", idB), 1, idA, 1)), app(always, running, runningCS("main", idB)), "restartCount fell from 1 to 0"},
		{"restartCount without lastState", nil, one(mod(runningCS("main", idA), func(cs *v1.ContainerStatus) { cs.RestartCount = 1 })), "without lastState.terminated"},
		{"new ID, same count", app(always, running, runningCS("main", idA)), app(always, running, runningCS("main", idB)), "containerID changed without a restartCount rise"},
		{"count rises, same ID", app(always, running, runningCS("main", idA)), app(always, running, restarted(runningCS("main", idA), 1, idA, 1)), "containerID is the old instance's"},
		{"dead instance runs again", app(always, running, exitedCS("main", idA, 1)), app(always, running, runningCS("main", idA)), "went back from terminated to running"},
		{"exit code rewritten", app(always, running, exitedCS("main", idA, 1)), app(always, running, exitedCS("main", idA, 2)), "changed its exit code"},
		{"never leaves terminated", app(never, running, exitedCS("main", idA, 0)), app(never, running, restarted(runningCS("main", idB), 1, idA, 0)), "left the terminated state"},
		{"onFailure after exit 0", app(onFailure, running, exitedCS("main", idA, 0)), app(onFailure, running, restarted(runningCS("main", idB), 1, idA, 0)), "left the terminated state"},

		// Back-off.
		{"back-off at restart 0", app(always, running, exitedCS("main", idA, 1)), app(always, running, crashLoopCS(idA, 0, 1)), "restartCount 0"},
		{"back-off message", nil, one(mod(crashLoopCS(idB, 1, 1), func(cs *v1.ContainerStatus) { cs.State.Waiting.Message = "back-off 10s" })), "message is not kubelet's"},
		{"back-off without lastState", nil, one(mod(crashLoopCS(idB, 1, 1), func(cs *v1.ContainerStatus) { cs.LastTerminationState = v1.ContainerState{} })), "without lastState.terminated"},
		{"back-off shows another instance", nil, one(mod(crashLoopCS(idB, 1, 1), func(cs *v1.ContainerStatus) { cs.ContainerID = idC })), "not the dead instance's"},
		{"back-off under Never", nil, app(never, running, crashLoopCS(idB, 1, 1)), "restartPolicy Never does not restart"},

		// Ready and started.
		{"ready while dead", nil, one(mod(exitedCS("main", idA, 0), func(cs *v1.ContainerStatus) { cs.Ready = true })), "ready while not running"},
		{"started while waiting", nil, one(mod(createdCS("main", idA), func(cs *v1.ContainerStatus) { cs.Started = boolp(true) })), "started while not running"},
		{"ready before started", nil, one(mod(runningCS("main", idA), func(cs *v1.ContainerStatus) { cs.Started = boolp(false) })), "ready while not running or not started"},
		{"init exit 0 not ready", nil, withInit(app(always, running, runningCS("main", idB)), exitedCS("init", idA, 0)), "exit code 0"},

		// Phase and conditions.
		{"running in a succeeded pod", nil, app(never, ok, runningCS("main", idA)), "Succeeded pod with container \"main\" running"},
		{"succeeded and ready", nil, set(set(app(never, ok, exitedCS("main", idA, 0)), v1.PodReady, true), v1.ContainersReady, true), "Succeeded pod with condition Ready=True"},
		{"phase leaves Failed", app(never, bad, exitedCS("main", idA, 1)), app(never, running, exitedCS("main", idA, 1)), "phase left Failed"},
		{"ready without containers ready", nil, set(app(always, running, runningCS("main", idA)), v1.ContainersReady, false), "Ready=True without ContainersReady=True"},
		{"containers ready, one is not", nil, set(set(app(always, running, exitedCS("main", idA, 1)), v1.ContainersReady, true), v1.PodReady, false), "container \"main\" is not ready"},
		{"initialized too early", nil, set(withInit(app(always, pending, waitingCS("main", reasonInitializing)),
			mod(runningCS("init", idA), func(cs *v1.ContainerStatus) { cs.Ready = false })), v1.PodInitialized, true), "init container \"init\" has not completed"},
		{"sidecar not ready", nil, withInit(set(set(app(always, running, runningCS("main", idB)), v1.PodReady, true), v1.ContainersReady, true),
			mod(runningCS("side", idA), func(cs *v1.ContainerStatus) { cs.Ready = false })), "container \"side\" is not ready"},
		{"not scheduled", nil, edit(app(always, running, runningCS("main", idA)), func(p *v1.Pod) { p.Status.Conditions = p.Status.Conditions[1:] }), "PodScheduled=True"},
		{"transition time backwards", edit(app(always, running, runningCS("main", idA)), func(p *v1.Pod) { p.Status.Conditions[0].LastTransitionTime = at(9) }),
			app(always, running, runningCS("main", idA)), "condition PodScheduled: lastTransitionTime went backwards"},
		{"startTime moves", app(always, running, runningCS("main", idA)), edit(app(always, running, runningCS("main", idA)), func(p *v1.Pod) { p.Status.StartTime = &metav1.Time{Time: t0.Add(time.Second)} }), "startTime changed"},
		{"status for each container", nil, edit(app(always, running, runningCS("main", idA)), func(p *v1.Pod) { p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "other"}) }), "each container of the spec once"},
		{"two states", nil, one(mod(runningCS("main", idA), func(cs *v1.ContainerStatus) { cs.State.Waiting = &v1.ContainerStateWaiting{} })), "state has 2 of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkTransition(tt.prev, tt.next)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("want no violation, got:\n  %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("want a violation %q, got none", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("want a violation %q, got:\n  %v", tt.want, err)
			}
		})
	}
}

// one is a running pod (restartPolicy Always) with the one container cs.
func one(cs v1.ContainerStatus) *v1.Pod {
	return testPod(v1.RestartPolicyAlways, v1.PodRunning, cs)
}

// mod returns cs changed by f.
func mod(cs v1.ContainerStatus, f func(*v1.ContainerStatus)) v1.ContainerStatus {
	f(&cs)
	return cs
}

func TestViolationShowsBothStatuses(t *testing.T) {
	err := checkTransition(testPod(v1.RestartPolicyAlways, v1.PodRunning, runningCS("main", idA)),
		testPod(v1.RestartPolicyAlways, v1.PodRunning, runningCS("main", idB)))
	var vs statusViolations
	if !errors.As(err, &vs) || len(vs) != 1 {
		t.Fatalf("want one violation, got %v", err)
	}
	msg := vs[0].Error()
	for _, want := range []string{`container "main"`, `prev: {"name":"main","state":{"running"`, `"containerID":"containerd://aaaaaaaaaaaa"`, `next: `, `"containerID":"containerd://bbbbbbbbbbbb"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("violation text lacks %q:\n%s", want, msg)
		}
	}
}

// TestStatusWatchAttribution: a test takes what was found for its pods while
// it owned them; the rest stays for the end of the run, with its owner.
func TestStatusWatchAttribution(t *testing.T) {
	w := &statusWatch{last: map[types.UID]*v1.Pod{}, deleted: map[types.UID]bool{},
		byRule: map[string]*finding{}, claims: map[string][]*claim{}}
	badPod := func() *v1.Pod {
		return testPod(v1.RestartPolicyAlways, v1.PodPending, waitingCS("main", reasonInitializing))
	}
	now := time.Now()
	w.observe("ADDED", badPod(), now.Add(-time.Hour)) // before any claim
	w.claim(t, "default/web")
	w.observe("MODIFIED", badPod(), now.Add(time.Second)) // the same rule again: counted, not listed
	if len(w.found) != 1 || w.found[0].repeats != 1 {
		t.Fatalf("found %d, repeats %d; want 1 finding seen twice", len(w.found), w.found[0].repeats)
	}
	other := badPod()
	other.UID = "u2" // a new pod of the same name
	w.observe("ADDED", other, now.Add(2*time.Second))
	if got := w.take(t, now.Add(3*time.Second)); len(got) != 1 || got[0].at != now.Add(2*time.Second) {
		t.Fatalf("take: %v; want the finding of u2 only (u1's came before the claim)", got)
	}
	late := badPod()
	late.UID = "u3"
	w.observe("ADDED", late, now.Add(4*time.Second))
	left := w.unreported()
	if len(left) != 2 || !strings.Contains(left[0], "before any test claimed") ||
		!strings.Contains(left[1], "claimed by "+t.Name()+", seen after it ended") {
		t.Fatalf("unreported: %q", left)
	}
	if len(w.unreported()) != 0 {
		t.Error("unreported findings are handed out twice")
	}
}
