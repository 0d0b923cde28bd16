package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/runtime"
	"github.com/miniagent/miniagent/runtime/fake"
)

func TestImageMessages(t *testing.T) {
	cases := []struct{ got, want string }{
		{pullingMessage("busybox:1.36"), `Pulling image "busybox:1.36"`},
		{pullingMessage("busybox"), `Pulling image "busybox:latest"`},
		{pullingMessage("127.0.0.1:19701/busybox"), `Pulling image "127.0.0.1:19701/busybox:latest"`},
		{pullingMessage("busybox@sha256:" + strings.Repeat("a", 64)), `Pulling image "busybox@sha256:` + strings.Repeat("a", 64) + `"`},
		{pulledMessage("busybox:1.36", 1234567*time.Microsecond, 1345678*time.Microsecond, 4262144),
			`Successfully pulled image "busybox:1.36" in 1.234s (1.345s including waiting). Image size: 4262144 bytes.`},
		{pulledMessage("busybox", 523900*time.Microsecond, 523900*time.Microsecond, 0),
			`Successfully pulled image "busybox:latest" in 523ms (523ms including waiting). Image size: 0 bytes.`},
		{pulledMessage("busybox:1", 2*time.Minute+3500*time.Millisecond, 2*time.Minute+3500*time.Millisecond, 1),
			`Successfully pulled image "busybox:1" in 2m3.5s (2m3.5s including waiting). Image size: 1 bytes.`},
		{presentMessage("busybox"), `Container image "busybox" already present on machine`},
		{pullFailedMessage("x", errors.New("boom")), `Failed to pull image "x:latest": boom`},
		{pullBackOffMessage("x:1"), `Back-off pulling image "x:1"`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

// TestPullerSerializes: a second pull waits for the first; its Pulled
// times say so (pull time < time including waiting).
func TestPullerSerializes(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	rt := fake.New(clk)
	release := make(chan struct{})
	entered := make(chan string, 2)
	rt.SetPullHook(func(ref string) {
		entered <- ref
		if ref == "a" {
			<-release
		}
		clk.Step(time.Second) // each pull takes 1 s
	})
	p := newImagePuller(rt, clk)
	resA := make(chan pullResult, 1)
	go func() { resA <- p.pull(context.Background(), "a", nil) }()
	if got := <-entered; got != "a" {
		t.Fatalf("first pull %q", got)
	}
	resB := make(chan pullResult, 1)
	go func() { resB <- p.pull(context.Background(), "b", nil) }()
	select {
	case ref := <-entered:
		t.Fatalf("pull %q started while a was running", ref)
	case <-time.After(50 * time.Millisecond):
	}
	clk.Step(2 * time.Second) // a is slow: 2 s pass while b waits
	close(release)
	a := <-resA
	b := <-resB
	if a.err != nil || b.err != nil {
		t.Fatal(a.err, b.err)
	}
	if a.pull != 3*time.Second || a.total != 3*time.Second {
		t.Errorf("a: pull %v total %v, want 3s 3s", a.pull, a.total)
	}
	if b.pull != time.Second || b.total != 4*time.Second {
		t.Errorf("b: pull %v total %v, want 1s, 4s including the wait", b.pull, b.total)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.slot <- struct{}{} // a pull in flight
	cancel()
	if r := p.pull(ctx, "c", nil); !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled wait: %v", r.err)
	}
}

func eventLines(h *harness, pod string) []string {
	evs, _ := h.a.PodEvents(context.Background(), "default", pod)
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+" "+e.Reason+" "+e.Message)
	}
	return out
}

func hasEvent(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestPullEvents(t *testing.T) {
	h := newHarness(t)
	h.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: always\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n    imagePullPolicy: Always\n")
	h.waitRunning("always", "c")
	evs := eventLines(h, "always")
	for _, want := range []string{
		`Normal Pulling Pulling image "busybox:1.36"`,
		`Normal Pulled Successfully pulled image "busybox:1.36" in 0s (0s including waiting). Image size: 1048576 bytes.`,
	} {
		if !hasEvent(evs, want) {
			t.Errorf("no event %q in\n%s", want, strings.Join(evs, "\n"))
		}
	}
	h.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: present\nspec:\n  containers:\n  - name: c\n    image: busybox\n    imagePullPolicy: IfNotPresent\n")
	h.waitRunning("present", "c")
	if evs := eventLines(h, "present"); !hasEvent(evs, `Normal Pulled Container image "busybox" already present on machine`) {
		t.Errorf("no already-present event in\n%s", strings.Join(evs, "\n"))
	}

	h.rt.SetPullError("docker.io/library/nope:1", fmt.Errorf("not found"))
	h.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: c\n    image: nope:1\n")
	h.eventually("back-off events", func() bool {
		h.clock.Step(100 * time.Millisecond)
		time.Sleep(2 * time.Millisecond)
		evs := eventLines(h, "bad")
		return hasEvent(evs, `Normal BackOff Back-off pulling image "nope:1"`) && hasEvent(evs, `Warning Failed Error: ImagePullBackOff`)
	})
	evs = eventLines(h, "bad")
	for _, want := range []string{
		`Normal Pulling Pulling image "nope:1"`,
		`Warning Failed Failed to pull image "nope:1": not found`,
		`Warning Failed Error: ErrImagePull`,
	} {
		if !hasEvent(evs, want) {
			t.Errorf("no event %q in\n%s", want, strings.Join(evs, "\n"))
		}
	}
}

func TestRemoveImageRefusedWhileUsed(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: user\nspec:\n  containers:\n  - name: app\n    image: busybox\n")
	h.waitRunning("user", "app")
	err := h.a.RemoveImage(ctx, "busybox:latest")
	want := `image "docker.io/library/busybox:latest" is in use by container "app" of pod default/user: delete those first`
	var se *apierrors.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Code != http.StatusConflict || se.ErrStatus.Message != want {
		t.Fatalf("RemoveImage while used = %v, want 409 %q", err, want)
	}
	// A container left in the runtime by someone else also blocks it.
	h.rt.AddImage(runtime.ImageInfo{Ref: "docker.io/library/other:1"})
	if err := h.rt.CreateContainer(ctx, runtime.ContainerSpec{ID: "foreign", Image: "docker.io/library/other:1",
		Labels: map[string]string{runtime.LabelPodNamespace: "ns", runtime.LabelPodName: "p", runtime.LabelContainerName: "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := h.a.RemoveImage(ctx, "other:1"); err == nil || !strings.Contains(err.Error(), `container "x" of pod ns/p (container ID foreign)`) {
		t.Fatalf("RemoveImage of a runtime container's image = %v", err)
	}
	if err := h.a.RemoveImage(ctx, "absent:1"); !apierrors.IsNotFound(err) {
		t.Fatalf("RemoveImage of an absent image = %v, want NotFound", err)
	}
	if _, err := h.a.DeletePod(ctx, "default", "user", nil, true); err != nil {
		t.Fatal(err)
	}
	if err := h.a.RemoveImage(ctx, "busybox"); err != nil {
		t.Fatalf("RemoveImage after the pod is gone: %v", err)
	}
	imgs, err := h.a.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range imgs {
		if i.Ref == "docker.io/library/busybox:latest" {
			t.Fatalf("busybox still listed: %+v", imgs)
		}
	}
}

func TestAPIPullReportsProgress(t *testing.T) {
	h := newHarness(t)
	var seen [][]api.BlobProgress
	img, err := h.a.PullImage(context.Background(), "alpine:3", func(b []api.BlobProgress) { seen = append(seen, b) })
	if err != nil || img.Ref != "docker.io/library/alpine:3" {
		t.Fatalf("PullImage = %+v, %v", img, err)
	}
	if len(seen) != 2 || seen[1][0].Status != "done" || seen[1][0].Done != img.Size {
		t.Fatalf("progress = %+v", seen)
	}
	if _, err := h.a.PullImage(context.Background(), "Bad Ref", nil); !apierrors.IsBadRequest(err) {
		t.Fatalf("bad ref: %v", err)
	}
}
