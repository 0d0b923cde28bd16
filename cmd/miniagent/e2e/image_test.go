package e2e

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestImagePullFailure: an image that cannot be pulled (no registry is
// reachable here) shows ErrImagePull, then ImagePullBackOff, with
// kubelet's events, and the pod stays Pending.
func TestImagePullFailure(t *testing.T) {
	e2e(t)
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: pull-fail
spec:
  containers:
  - name: main
    image: registry.invalid/miniagent/nope:1.0
`)
	waiting := func(reason string) func(*v1.Pod) bool {
		return func(p *v1.Pod) bool {
			cs := containerStatus(p, "main")
			return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == reason
		}
	}
	p := waitPod(t, "pull-fail", 60*time.Second, "ErrImagePull", waiting("ErrImagePull"))
	if msg := containerStatus(p, "main").State.Waiting.Message; !strings.Contains(msg, "registry.invalid/miniagent/nope:1.0") {
		t.Errorf("ErrImagePull message does not name the image: %q", msg)
	}
	p = waitPod(t, "pull-fail", 30*time.Second, "ImagePullBackOff", waiting("ImagePullBackOff"))
	if p.Status.Phase != v1.PodPending {
		t.Errorf("phase = %s, want Pending", p.Status.Phase)
	}
	out := run(t, "describe", "pod", "pull-fail")
	for _, want := range []string{`Pulling image "registry.invalid/miniagent/nope:1.0"`, "Failed to pull image", "Error: ErrImagePull"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
}
