package agent

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/miniagent/miniagent/runtime"
)

func decodePod(t *testing.T, doc string) *v1.Pod {
	t.Helper()
	var pod v1.Pod
	if err := yaml.NewYAMLOrJSONDecoder(strings.NewReader(doc), 4096).Decode(&pod); err != nil {
		t.Fatal(err)
	}
	return &pod
}

func restarts(p *v1.Pod, name string) int32 {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == name {
			return cs.RestartCount
		}
	}
	return -1
}

// An image change is made in place: same UID, only that container is
// restarted (restartCount 1, even under restartPolicy Never, with no
// back-off); labels change without a restart; other changes are refused
// with the API server's message unless forced.
func TestApplyUpdatesInPlace(t *testing.T) {
	h := newHarness(t)
	h.rt.AddImage(runtime.ImageInfo{Ref: "docker.io/library/busybox:v2", ID: "docker.io/library/busybox@sha256:def"})
	doc := podYAML("web", "Never", nil, "a", "b")
	first := h.apply(doc)
	oldA := h.waitRunning("web", "a")
	oldB := h.waitRunning("web", "b")

	ctx := context.Background()
	labeled := decodePod(t, doc)
	labeled.Labels = map[string]string{"tier": "front"}
	if _, _, err := h.a.ApplyPod(ctx, labeled); err != nil {
		t.Fatal(err)
	}
	h.eventually("label shown", func() bool { return h.pod("web").Labels["tier"] == "front" })

	upd := labeled.DeepCopy()
	upd.Spec.Containers[1].Image = "busybox:v2"
	stored, created, err := h.a.ApplyPod(ctx, upd)
	if err != nil || created || stored.UID != first.UID || stored.Spec.Containers[1].Image != "busybox:v2" {
		t.Fatalf("image update: created %v, uid %s (was %s), err %v", created, stored.UID, first.UID, err)
	}
	h.eventually("b restarted with the new image", func() bool {
		p := h.pod("web")
		id := h.containerID("web", "b")
		return id != oldB && restarts(p, "b") == 1 && h.waitRunning("web", "b") == id
	})
	p := h.pod("web")
	if p.UID != first.UID || restarts(p, "a") != 0 || h.containerID("web", "a") != oldA {
		t.Errorf("a was touched or the pod replaced: uid %s, a restarts %d", p.UID, restarts(p, "a"))
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == "b" && (cs.Image != "docker.io/library/busybox:v2" || cs.LastTerminationState.Terminated == nil) {
			t.Errorf("b status: image %q, last state %+v", cs.Image, cs.LastTerminationState)
		}
	}
	var killing bool
	evs, _ := h.a.PodEvents(ctx, "default", "web")
	for _, e := range evs {
		killing = killing || (e.Reason == "Killing" && e.Message == "Container b definition changed, will be restarted")
	}
	if !killing {
		t.Errorf("no Killing event for the definition change: %+v", evs)
	}

	bad := upd.DeepCopy()
	bad.Spec.Containers[0].Command = []string{"sh"}
	_, _, err = h.a.ApplyPod(ctx, bad)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than `+"`spec.containers[*].image`") {
		t.Fatalf("forbidden change: %v", err)
	}
	if h.pod("web").UID != first.UID {
		t.Error("a refused change replaced the pod")
	}
	replaced, _, err := h.a.ReplacePod(ctx, bad)
	if err != nil || replaced.UID == first.UID {
		t.Fatalf("force: uid %s, err %v", replaced.UID, err)
	}
	h.eventually("re-created pod runs", func() bool {
		p := h.pod("web")
		return p.UID == replaced.UID && h.containerID("web", "a") != oldA
	})
}

// The actions of an in-place image update: a running container with
// another image is replaced; once stopped it starts at once, whatever the
// policy and back-off; a crash-looping one with a new image skips its
// back-off; an exited one under Never stays exited.
func TestComputePodActionsImageChange(t *testing.T) {
	now := t0.Add(time.Minute)
	for _, tc := range []struct {
		name        string
		policy      v1.RestartPolicy
		state       st
		replaced    bool
		wantReplace bool
		wantStart   bool
	}{
		{"running, new image", v1.RestartPolicyAlways, st{running: true}, false, true, false},
		{"stopped for the new image, Never", v1.RestartPolicyNever, st{exited: true, code: 137, finished: now}, true, false, true},
		{"crash looping, new image: no back-off", v1.RestartPolicyAlways, st{exited: true, code: 1, finished: now, backoff: backoff{Delay: 5 * time.Minute}}, false, false, true},
		{"exited under Never, new image: stays", v1.RestartPolicyNever, st{exited: true, code: 0, finished: now}, false, false, false},
	} {
		pod := testPod(tc.policy, nil, "a", "b")
		pod.Spec.Containers[0].Image, pod.Spec.Containers[1].Image = "busybox:v2", "busybox"
		r := record(pod, map[string]st{"a": tc.state, "b": {running: true}})
		r.Sandbox = &runtime.Sandbox{PodUID: "u1"}
		r.Containers["a"].Current.Image, r.Containers["b"].Current.Image = "busybox", "busybox"
		r.Containers["a"].Current.Replaced = tc.replaced
		acts := computePodActions(r, now)
		gotReplace := slices.Contains(acts.Replace, "a")
		gotStart := slices.Contains(acts.Start, "a")
		if gotReplace != tc.wantReplace || gotStart != tc.wantStart || slices.Contains(acts.Replace, "b") || acts.Terminal != "" {
			t.Errorf("%s: %+v", tc.name, acts)
		}
	}
}
