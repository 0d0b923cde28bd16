package containerd

import (
	"context"
	"fmt"
	"sort"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"

	"github.com/miniagent/miniagent/runtime"
)

// ListImages returns every image of the namespace, sorted by name.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.ImageInfo, error) {
	ctx = r.ns(ctx)
	imgs, err := r.client.ListImages(ctx)
	if err != nil {
		return nil, classify(fmt.Errorf("list images: %w", err))
	}
	out := make([]runtime.ImageInfo, 0, len(imgs))
	for _, img := range imgs {
		info, err := r.imageInfo(ctx, img)
		if err != nil {
			// An image whose content is gone (a half-deleted or
			// foreign-platform image) is still listed by name.
			info = runtime.ImageInfo{Ref: img.Name(), ID: info.ID}
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// RemoveImage deletes the image named ref (normalised) unless a container
// of the namespace, in any state and whoever made it, was created from it.
// Its content and snapshots are left to containerd's garbage collector,
// which keeps what other images or containers still reference.
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	ctx = r.ns(ctx)
	img, err := r.findImage(ctx, ref)
	if err != nil {
		return err
	}
	users, err := r.imageUsers(ctx, img.Name())
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return &runtime.ImageInUseError{Image: img.Name(), Users: users}
	}
	if err := r.client.ImageService().Delete(ctx, img.Name(), images.SynchronousDelete()); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("image %q: %w", ref, runtime.ErrNotFound)
		}
		return classify(fmt.Errorf("remove image %q: %w", img.Name(), err))
	}
	return nil
}

// imageUsers lists the namespace's containers made from the image name.
func (r *Runtime) imageUsers(ctx context.Context, name string) ([]runtime.ImageUser, error) {
	ctrs, err := r.client.Containers(ctx, fmt.Sprintf("image==%q", name))
	if err != nil {
		return nil, classify(fmt.Errorf("list containers of image %q: %w", name, err))
	}
	var users []runtime.ImageUser
	for _, c := range ctrs {
		users = append(users, userOf(ctx, c))
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ContainerID < users[j].ContainerID })
	return users, nil
}

func userOf(ctx context.Context, c client.Container) runtime.ImageUser {
	u := runtime.ImageUser{ContainerID: c.ID()}
	if labels, err := c.Labels(ctx); err == nil {
		u.PodNamespace = labels[runtime.LabelPodNamespace]
		u.PodName = labels[runtime.LabelPodName]
		u.Container = labels[runtime.LabelContainerName]
	}
	return u
}
