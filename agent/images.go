package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/spec"
	"github.com/miniagent/miniagent/runtime"
)

// imagePuller runs one pull at a time, as kubelet's default serial image
// puller does: pod workers and `image pull` queue behind each other.
type imagePuller struct {
	rt    runtime.Runtime
	clock clock.PassiveClock
	slot  chan struct{}
}

func newImagePuller(rt runtime.Runtime, clk clock.PassiveClock) *imagePuller {
	return &imagePuller{rt: rt, clock: clk, slot: make(chan struct{}, 1)}
}

// pullResult is one pull's outcome: pull is the time spent pulling,
// total the time since the pull was requested (queueing included).
type pullResult struct {
	info        runtime.ImageInfo
	pull, total time.Duration
	err         error
}

// pull pulls ref once the pulls queued before it are done.
func (p *imagePuller) pull(ctx context.Context, ref string, progress func([]runtime.BlobProgress)) pullResult {
	requested := p.clock.Now()
	select {
	case p.slot <- struct{}{}:
	case <-ctx.Done():
		return pullResult{err: fmt.Errorf("waiting to pull image %q: %w", ref, ctx.Err())}
	}
	defer func() { <-p.slot }()
	start := p.clock.Now()
	info, err := p.rt.PullImage(ctx, ref, runtime.PullOptions{Progress: progress})
	end := p.clock.Now()
	return pullResult{info: info, pull: end.Sub(start), total: end.Sub(requested), err: err}
}

// withDefaultTag is kubelet's applyDefaultImageTag: image with ":latest"
// appended when it names neither a tag nor a digest, otherwise unchanged
// (and never expanded to docker.io/library/...). It is the name kubelet's
// Pulling, Pulled, Failed and BackOff events carry.
func withDefaultTag(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	if _, ok := named.(reference.Digested); ok {
		return image
	}
	if _, ok := named.(reference.Tagged); ok {
		return image
	}
	return image + ":latest"
}

// Kubelet's image event messages (pkg/kubelet/images/image_manager.go).
func pullingMessage(image string) string {
	return fmt.Sprintf("Pulling image %q", withDefaultTag(image))
}

func pulledMessage(image string, pull, total time.Duration, size int64) string {
	return fmt.Sprintf("Successfully pulled image %q in %v (%v including waiting). Image size: %d bytes.",
		withDefaultTag(image), pull.Truncate(time.Millisecond), total.Truncate(time.Millisecond), size)
}

func presentMessage(image string) string {
	return fmt.Sprintf("Container image %q already present on machine", image)
}

func pullFailedMessage(image string, err error) string {
	return fmt.Sprintf("Failed to pull image %q: %v", withDefaultTag(image), err)
}

func pullBackOffMessage(image string) string {
	return fmt.Sprintf("Back-off pulling image %q", withDefaultTag(image))
}

// PullImage implements api.Imager: a pull asked for through the API,
// queued with the pod workers' pulls.
func (a *Agent) PullImage(ctx context.Context, ref string, progress func([]api.BlobProgress)) (api.Image, error) {
	norm, err := spec.NormalizeImage(ref)
	if err != nil {
		return api.Image{}, apierrors.NewBadRequest(fmt.Sprintf("invalid image reference %q: %v", ref, err))
	}
	var report func([]runtime.BlobProgress)
	if progress != nil {
		report = func(bs []runtime.BlobProgress) {
			out := make([]api.BlobProgress, len(bs))
			for i, b := range bs {
				out[i] = api.BlobProgress(b)
			}
			progress(out)
		}
	}
	res := a.puller.pull(ctx, norm, report)
	if res.err != nil {
		return api.Image{}, imageError(ref, res.err)
	}
	return apiImage(res.info), nil
}

// ListImages implements api.Imager.
func (a *Agent) ListImages(ctx context.Context) ([]api.Image, error) {
	infos, err := a.rt.ListImages(ctx)
	if err != nil {
		return nil, imageError("", err)
	}
	out := make([]api.Image, 0, len(infos))
	for _, i := range infos {
		out = append(out, apiImage(i))
	}
	return out, nil
}

// RemoveImage implements api.Imager. It refuses while a pod of the node
// names the image in a container (whatever that container's state, even
// between two instances) or while any container of the runtime's
// namespace was made from it.
func (a *Agent) RemoveImage(ctx context.Context, ref string) error {
	norm, err := spec.NormalizeImage(ref)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid image reference %q: %v", ref, err))
	}
	if users := a.podsUsingImage(norm); len(users) > 0 {
		return imageError(ref, &runtime.ImageInUseError{Image: norm, Users: users})
	}
	if err := a.rt.RemoveImage(ctx, norm); err != nil {
		return imageError(ref, err)
	}
	return nil
}

// podsUsingImage lists the containers of the node's pods whose image is
// norm (a normalised reference).
func (a *Agent) podsUsingImage(norm string) []runtime.ImageUser {
	a.mu.Lock()
	snaps := a.snapshotsLocked()
	a.mu.Unlock()
	var users []runtime.ImageUser
	for _, s := range snaps {
		pod := s.pod
		all := append(append([]v1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
		for _, c := range all {
			if n, err := spec.NormalizeImage(c.Image); err == nil && n == norm {
				users = append(users, runtime.ImageUser{PodNamespace: pod.Namespace, PodName: pod.Name, Container: c.Name})
			}
		}
	}
	sort.Slice(users, func(i, j int) bool {
		ki := users[i].PodNamespace + "/" + users[i].PodName + "/" + users[i].Container
		kj := users[j].PodNamespace + "/" + users[j].PodName + "/" + users[j].Container
		return ki < kj
	})
	return users
}

func apiImage(i runtime.ImageInfo) api.Image {
	return api.Image{Ref: i.Ref, ID: i.ID, ConfigID: i.ConfigID, Size: i.Size}
}

// imageError turns a runtime error into the API's: an image in use is 409
// Conflict, an absent one 404, a bad pull 502 with the registry's words.
func imageError(ref string, err error) error {
	var inUse *runtime.ImageInUseError
	switch {
	case errors.As(err, &inUse):
		return statusError(http.StatusConflict, metav1.StatusReasonConflict, inUse.Error())
	case errors.Is(err, runtime.ErrNotFound) && ref != "":
		return statusError(http.StatusNotFound, metav1.StatusReasonNotFound, strings.TrimSpace(err.Error()))
	}
	return apierrors.NewInternalError(err)
}

func statusError(code int32, reason metav1.StatusReason, msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg,
	}}
}
