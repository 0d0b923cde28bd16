package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/sources"
	"github.com/miniagent/miniagent/agent/spec"
)

// statusLog records what the agent tells Options.OnPodStatus.
type statusLog struct {
	mu   sync.Mutex
	last map[types.UID]toldStatus
	all  []toldStatus
}

type toldStatus struct {
	pod      *v1.Pod
	source   string
	finished bool
}

func (l *statusLog) record(pod *v1.Pod, source string, finished bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := toldStatus{pod: pod, source: source, finished: finished}
	l.last[pod.UID] = s
	l.all = append(l.all, s)
}

func (l *statusLog) get(uid types.UID) (toldStatus, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.last[uid]
	return s, ok
}

// newSourceHarness is a harness whose agent reports statuses to a log.
func newSourceHarness(t *testing.T) (*harness, *statusLog) {
	h := newHarness(t)
	l := &statusLog{last: map[types.UID]toldStatus{}}
	h.a.opts.OnPodStatus = l.record // before any worker starts
	return h, l
}

// apiPod is a pod as the API server hands it over: bound, with its UID,
// defaulted by the source.
func apiPod(name string, uid types.UID, mutate ...func(*v1.Pod)) *v1.Pod {
	grace := int64(30)
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid, ResourceVersion: "7",
			Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{NodeName: "node1", TerminationGracePeriodSeconds: &grace,
			Containers: []v1.Container{{Name: "app", Image: "busybox", ImagePullPolicy: v1.PullIfNotPresent}}},
		Status: v1.PodStatus{Phase: v1.PodPending},
	}
	for _, m := range mutate {
		m(p)
	}
	spec.SetDefaults(p)
	return p
}

func (h *harness) sourceSet(pods ...*v1.Pod) {
	h.a.applySourceUpdate(sources.Update{Source: sources.SourceAPIServer, Pods: pods})
}

func TestAPIServerPodRunsWithItsUIDAndIsReported(t *testing.T) {
	h, l := newSourceHarness(t)
	h.sourceSet(apiPod("web", "uid-1"))
	h.waitRunning("web", "app")
	if got := h.pod("web").UID; got != "uid-1" {
		t.Fatalf("UID = %s, want the API server's uid-1", got)
	}
	h.eventually("Running reported", func() bool {
		s, ok := l.get("uid-1")
		return ok && s.pod.Status.Phase == v1.PodRunning && s.source == sources.SourceAPIServer && !s.finished
	})
	// The same set again changes nothing; a new label is taken in place.
	h.sourceSet(apiPod("web", "uid-1"))
	h.sourceSet(apiPod("web", "uid-1", func(p *v1.Pod) { p.Labels["tier"] = "front" }))
	h.eventually("label taken in place", func() bool { return h.pod("web").Labels["tier"] == "front" })
	if n := len(h.rt.Containers()); n != 1 {
		t.Fatalf("%d containers created, want 1", n)
	}
	// The local API may not delete it: the API server owns it.
	if _, err := h.a.DeletePod(context.Background(), "default", "web", nil, false); !apierrors.IsConflict(err) {
		t.Fatalf("local delete of an API server pod: %v, want a conflict", err)
	}
}

func TestAPIServerDeletionUsesItsGraceAndEndsFinished(t *testing.T) {
	h, l := newSourceHarness(t)
	h.sourceSet(apiPod("web", "uid-1"))
	id := h.waitRunning("web", "app")
	// kubectl delete --grace-period=5: the stop uses the deletion's grace.
	deleted := func(g int64) func(*v1.Pod) {
		return func(p *v1.Pod) {
			ts := metav1.NewTime(time.Now().Add(time.Duration(g) * time.Second))
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &g
		}
	}
	h.sourceSet(apiPod("web", "uid-1", deleted(5)))
	h.eventually("pod removed", func() bool {
		_, err := h.a.GetPod(context.Background(), "default", "web")
		return apierrors.IsNotFound(err)
	})
	stops := h.rt.Stops()
	if len(stops) == 0 || stops[0].ID != id || stops[0].Grace != 5*time.Second {
		t.Fatalf("stops = %+v, want %s with the deletion's 5s grace", stops, id)
	}
	s, _ := l.get("uid-1")
	if !s.finished || s.pod.Status.Phase != v1.PodFailed {
		t.Fatalf("last status: finished %v phase %s, want finished Failed (killed with 137)", s.finished, s.pod.Status.Phase)
	}
	if n := len(h.rt.Sandboxes()); n != 0 {
		t.Fatalf("%d sandboxes left", n)
	}
}

func TestAPIServerDeletionGraceOnlyShrinks(t *testing.T) {
	h, _ := newSourceHarness(t)
	h.sourceSet(apiPod("web", "uid-1"))
	h.waitRunning("web", "app")
	withGrace := func(g int64) *v1.Pod {
		return apiPod("web", "uid-1", func(p *v1.Pod) {
			ts := metav1.Now()
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &g
		})
	}
	// Under a.mu the worker cannot forget the pod in between.
	h.a.mu.Lock()
	w := h.a.workers["uid-1"]
	h.a.deleteFromSourceLocked(w, withGrace(20))
	h.a.deleteFromSourceLocked(w, withGrace(40))
	g1 := *w.desired.DeletionGracePeriodSeconds
	h.a.deleteFromSourceLocked(w, withGrace(3))
	g2 := *w.desired.DeletionGracePeriodSeconds
	h.a.mu.Unlock()
	if g1 != 20 || g2 != 3 {
		t.Fatalf("grace after 20, 40: %d; after 3: %d; want 20 then 3", g1, g2)
	}
}

func TestAPIServerPodMissingFromSetIsKilled(t *testing.T) {
	h, l := newSourceHarness(t)
	h.sourceSet(apiPod("web", "uid-1"), apiPod("db", "uid-2"))
	h.waitRunning("web", "app")
	h.waitRunning("db", "app")
	h.sourceSet(apiPod("db", "uid-2")) // web deleted outright in the API server
	h.eventually("web removed", func() bool {
		_, err := h.a.GetPod(context.Background(), "default", "web")
		return apierrors.IsNotFound(err)
	})
	if s, _ := l.get("uid-1"); !s.finished {
		t.Fatalf("removed pod's last status not finished: %+v", s.pod.Status)
	}
	if h.pod("db").Status.Phase != v1.PodRunning {
		t.Fatalf("db phase %s", h.pod("db").Status.Phase)
	}
}

func TestAPIServerPodUnsupportedIsRejected(t *testing.T) {
	h, l := newSourceHarness(t)
	// A volume type miniagent has no plugin for.
	h.sourceSet(apiPod("web", "uid-1", func(p *v1.Pod) {
		p.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{NFS: &v1.NFSVolumeSource{Server: "nfs", Path: "/x"}}}}
	}))
	h.eventually("rejected and reported", func() bool {
		s, ok := l.get("uid-1")
		return ok && s.finished && s.pod.Status.Phase == v1.PodFailed && s.pod.Status.Reason == ReasonUnsupportedPodSpec
	})
	s, _ := l.get("uid-1")
	if want := "Pod was rejected: spec.volumes[0]"; len(s.pod.Status.Message) < len(want) || s.pod.Status.Message[:len(want)] != want {
		t.Fatalf("message = %q, want it to start with %q", s.pod.Status.Message, want)
	}
	if n := len(h.rt.Containers()); n != 0 {
		t.Fatalf("%d containers created for a rejected pod", n)
	}
}

func TestAPIServerAdmissionRejectionIsReported(t *testing.T) {
	h, l := newSourceHarness(t)
	h.sourceSet(apiPod("web", "uid-1", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "b"} }))
	h.eventually("rejected NodeAffinity", func() bool {
		s, ok := l.get("uid-1")
		return ok && s.finished && s.pod.Status.Phase == v1.PodFailed && s.pod.Status.Reason == "NodeAffinity" &&
			s.pod.Status.Message == "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
	})
}

func TestAPIServerFinishedOrDeletedPodIsNotStarted(t *testing.T) {
	h, l := newSourceHarness(t)
	done := apiPod("done", "uid-1", func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded })
	gone := apiPod("gone", "uid-2", func(p *v1.Pod) {
		ts, g := metav1.Now(), int64(30)
		p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &g
	})
	h.sourceSet(done, gone)
	h.eventually("deleted pod finished", func() bool {
		s, ok := l.get("uid-2")
		return ok && s.finished
	})
	if _, err := h.a.GetPod(context.Background(), "default", "done"); !apierrors.IsNotFound(err) {
		t.Fatalf("finished pod: %v, want not taken", err)
	}
	if n := len(h.rt.Containers()); n != 0 {
		t.Fatalf("%d containers created", n)
	}
}

// TestDeletedPodFinalPhase: the status rendered for a deleted pod once
// nothing of it is left (the last one the status manager writes).
func TestDeletedPodFinalPhase(t *testing.T) {
	h := newHarness(t)
	exited := func(code int32) *containerRecord {
		return &containerRecord{Name: "app", Current: &instance{ID: "c1", StartedAt: t0, FinishedAt: t0, Exited: true, ExitCode: code, Removed: true}}
	}
	static := func(p *v1.Pod) { p.Annotations = map[string]string{sources.ConfigSourceAnnotation: sources.SourceFile} }
	for _, tc := range []struct {
		name     string
		c        *containerRecord
		released bool
		mutate   func(*v1.Pod)
		want     v1.PodPhase
	}{
		{"all exited 0", exited(0), true, nil, v1.PodSucceeded},
		{"killed", exited(137), true, nil, v1.PodFailed},
		{"never started", nil, true, nil, v1.PodFailed},
		{"not released yet", exited(0), false, nil, v1.PodRunning},
		{"static pod keeps its phase", exited(137), true, static, v1.PodRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := apiPod("web", "uid-1")
			if tc.mutate != nil {
				tc.mutate(pod)
			}
			rec := &podRecord{Pod: pod, Containers: map[string]*containerRecord{}, Deleting: true, Released: tc.released, StartTime: t0}
			if tc.c != nil {
				rec.Containers["app"] = tc.c
			}
			if got := h.a.renderPod(rec, true, t0).Status.Phase; got != tc.want {
				t.Fatalf("phase %s, want %s", got, tc.want)
			}
		})
	}
}

// A pod deleted before its container ever ran ends, as kubelet's, with the
// container terminated ContainerStatusUnknown (137), not waiting.
func TestAPIServerPodDeletedBeforeItsContainerRan(t *testing.T) {
	h, l := newSourceHarness(t)
	never := func(p *v1.Pod) {
		p.Spec.Containers[0].Image, p.Spec.Containers[0].ImagePullPolicy = "absent:1", v1.PullNever
	}
	h.sourceSet(apiPod("web", "uid-1", never))
	h.eventually("waiting ErrImageNeverPull", func() bool {
		cs := h.pod("web").Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == ReasonErrImageNeverPull
	})
	h.sourceSet(apiPod("web", "uid-1", never, func(p *v1.Pod) {
		g := int64(0)
		ts := metav1.NewTime(time.Now())
		p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &g
	}))
	h.eventually("finished status told", func() bool {
		s, ok := l.get("uid-1")
		return ok && s.finished
	})
	s, _ := l.get("uid-1")
	cs := s.pod.Status.ContainerStatuses
	if s.pod.Status.Phase != v1.PodFailed || len(cs) != 1 || cs[0].State.Waiting != nil || cs[0].State.Terminated == nil {
		t.Fatalf("final status %s %+v, want Failed with the container terminated", s.pod.Status.Phase, cs)
	}
	if term := cs[0].State.Terminated; term.Reason != "ContainerStatusUnknown" || term.ExitCode != 137 ||
		term.Message != "The container could not be located when the pod was terminated" {
		t.Fatalf("container terminated %+v, want kubelet's ContainerStatusUnknown 137", term)
	}
}
