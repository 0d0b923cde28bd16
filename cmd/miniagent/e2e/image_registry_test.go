package e2e

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestImageRegistryPull: `image pull` from the in-test registry prints
// progress lines, `image ls` lists the image, a pod with imagePullPolicy
// Always gets kubelet's Pulling/Pulled events, `image rm` is refused while
// the pod exists and works once it is gone.
func TestImageRegistryPull(t *testing.T) {
	x := e2e(t)
	startRegistry(t, filepath.Join(x.dir, "busybox.tar"), "1")
	ref := registryAddr + "/busybox:1"
	ctx := context.Background()

	out := run(t, "image", "pull", ref)
	t.Logf("image pull:\n%s", out)
	for _, re := range []string{
		`(?m)^Pulling image "` + regexp.QuoteMeta(ref) + `"$`,
		`(?m)^layer sha256:[0-9a-f]{12}: downloading [0-9.]+[kM]?B/1.54MB$`,
		`(?m)^layer sha256:[0-9a-f]{12}: done 1.54MB$`,
		`(?m)^Pulled ` + regexp.QuoteMeta(ref) + ` \(IMAGE ID [0-9a-f]{13}, [0-9.]+MB\) in \S+$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("image pull output does not match %s", re)
		}
	}
	ls := run(t, "image", "ls")
	row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(registryAddr+"/busybox") + ` +1 +[0-9a-f]{13} +[0-9.]+MB$`)
	if !strings.HasPrefix(ls, "IMAGE ") || !row.MatchString(ls) {
		t.Fatalf("image ls lacks the pulled image:\n%s", ls)
	}

	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: reg-pull
spec:
  containers:
  - name: main
    image: `+ref+`
    imagePullPolicy: Always
    command: ["sleep", "3600"]
`)
	waitPod(t, "reg-pull", 60*time.Second, "Running", func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
	desc := run(t, "describe", "pod", "reg-pull")
	q := regexp.QuoteMeta(ref)
	for _, re := range []string{
		`Normal +Pulling +\S+ +kubelet +Pulling image "` + q + `"`,
		`Normal +Pulled +\S+ +kubelet +Successfully pulled image "` + q + `" in [0-9.]+m?s \([0-9.]+m?s including waiting\)\. Image size: [0-9]+ bytes\.`,
	} {
		if !regexp.MustCompile(re).MatchString(desc) {
			t.Errorf("describe lacks %s:\n%s", re, desc)
		}
	}

	_, stderr, err := x.cli(ctx, "image", "rm", ref)
	if err == nil || !strings.Contains(stderr, `is in use by container "main" of pod default/reg-pull`) {
		t.Fatalf("image rm while the pod exists: err %v, stderr %q", err, stderr)
	}
	t.Logf("image rm refused: %s", strings.TrimSpace(stderr))
	run(t, "delete", "pod", "reg-pull", "--grace-period", "1", "--wait=true")
	if out := run(t, "image", "rm", ref); !strings.Contains(out, "Deleted: "+ref) {
		t.Errorf("image rm: %q", out)
	}
	if ls := run(t, "image", "ls"); row.MatchString(ls) {
		t.Errorf("image still listed after rm:\n%s", ls)
	}
}

// TestImageRegistryMissingTag: a tag the registry does not have gives
// ErrImagePull, then ImagePullBackOff, with kubelet's events.
func TestImageRegistryMissingTag(t *testing.T) {
	x := e2e(t)
	startRegistry(t, filepath.Join(x.dir, "busybox.tar"), "1")
	ref := registryAddr + "/busybox:nope"
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: reg-missing
spec:
  containers:
  - name: main
    image: `+ref+`
`)
	waiting := func(reason string) func(*v1.Pod) bool {
		return func(p *v1.Pod) bool {
			cs := containerStatus(p, "main")
			return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == reason
		}
	}
	waitPod(t, "reg-missing", 60*time.Second, "ErrImagePull", waiting("ErrImagePull"))
	p := waitPod(t, "reg-missing", 30*time.Second, "ImagePullBackOff", waiting("ImagePullBackOff"))
	if msg := containerStatus(p, "main").State.Waiting.Message; !strings.HasPrefix(msg, `Back-off pulling image "`+ref+`": ErrImagePull: `) {
		t.Errorf("ImagePullBackOff message: %q", msg)
	}
	ev := run(t, "get", "events", "--field-selector", "involvedObject.name=reg-missing")
	q := regexp.QuoteMeta(ref)
	for _, re := range []string{
		`Normal +Pulling +pod/reg-missing +Pulling image "` + q + `"`,
		`Warning +Failed +pod/reg-missing +Failed to pull image "` + q + `": .*not found`,
		`Warning +Failed +pod/reg-missing +Error: ErrImagePull`,
		`Normal +BackOff +pod/reg-missing +Back-off pulling image "` + q + `"`,
		`Warning +Failed +pod/reg-missing +Error: ImagePullBackOff`,
	} {
		if !regexp.MustCompile(re).MatchString(ev) {
			t.Errorf("events lack %s:\n%s", re, ev)
		}
	}
}
