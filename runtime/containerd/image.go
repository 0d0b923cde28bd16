package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/miniagent/miniagent/runtime"
)

// NormalizeRef turns a Kubernetes image string into containerd's image name:
// "busybox" → "docker.io/library/busybox:latest".
func NormalizeRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return named.String(), nil
}

// ImageStatus returns the image if present, or an error wrapping ErrNotFound.
func (r *Runtime) ImageStatus(ctx context.Context, ref string) (runtime.ImageInfo, error) {
	ctx = r.ns(ctx)
	img, err := r.findImage(ctx, ref)
	if err != nil {
		return runtime.ImageInfo{}, err
	}
	return r.imageInfo(ctx, img)
}

// findImage looks ref up by name, and for a digest reference also by target
// digest (an image pulled by tag is found by its repo digest too).
func (r *Runtime) findImage(ctx context.Context, ref string) (client.Image, error) {
	name, err := NormalizeRef(ref)
	if err != nil {
		return nil, err
	}
	img, err := r.client.GetImage(ctx, name)
	if err == nil {
		return img, nil
	}
	if !errdefs.IsNotFound(err) {
		return nil, classify(fmt.Errorf("image %q: %w", ref, err))
	}
	if named, perr := reference.ParseDockerRef(ref); perr == nil {
		if c, ok := named.(reference.Canonical); ok {
			imgs, lerr := r.client.ListImages(ctx, "target.digest=="+c.Digest().String())
			if lerr != nil {
				return nil, classify(fmt.Errorf("image %q: %w", ref, lerr))
			}
			for _, i := range imgs {
				if n, e := reference.ParseNormalizedNamed(i.Name()); e == nil && n.Name() == c.Name() {
					return i, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("image %q not present: %w", ref, runtime.ErrNotFound)
}

// imageInfo describes img the way Kubernetes shows it.
func (r *Runtime) imageInfo(ctx context.Context, img client.Image) (runtime.ImageInfo, error) {
	info := runtime.ImageInfo{Ref: img.Name()}
	repo := img.Name()
	if named, err := reference.ParseNormalizedNamed(img.Name()); err == nil {
		repo = named.Name()
	}
	info.ID = repo + "@" + img.Target().Digest.String()
	f, err := r.factsOf(ctx, img)
	if err != nil {
		return info, err
	}
	info.ConfigID = f.config.Digest.String()
	info.StopSignal = f.spec.Config.StopSignal
	info.User = f.spec.Config.User
	if f.size >= 0 {
		info.Size = f.size
	}
	return info, nil
}

// pullError says why a pull failed in words a user can act on.
func pullError(name string, err error) error {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		err = fmt.Errorf("registry host %q cannot be resolved (no network or DNS?): %w", dnsErr.Name, err)
	case errors.As(err, &opErr):
		err = fmt.Errorf("registry unreachable (%s): %w", opErr.Op, err)
	case errdefs.IsNotFound(err):
		err = fmt.Errorf("image not found in registry: %w: %w", err, runtime.ErrNotFound)
	}
	return fmt.Errorf("pull image %q: %w (import it offline with `miniagent image import`)", name, err)
}

// ImportImage imports an OCI image layout tar or a docker save archive and
// unpacks every image in it for the snapshotter. Only images that carry a
// full name (io.containerd.image.name, or a ref.name with a repository) are
// kept.
func (r *Runtime) ImportImage(ctx context.Context, rd io.Reader) ([]runtime.ImageInfo, error) {
	ctx = r.ns(ctx)
	imgs, err := r.client.Import(ctx, rd, client.WithImageRefTranslator(translateRefName))
	if err != nil {
		return nil, classify(fmt.Errorf("import image archive: %w", err))
	}
	if len(imgs) == 0 {
		return nil, errors.New("import image archive: no named image in the archive (set io.containerd.image.name or a full org.opencontainers.image.ref.name)")
	}
	var out []runtime.ImageInfo
	for _, meta := range imgs {
		img := client.NewImage(r.client, meta)
		if err := img.Unpack(ctx, r.opts.Snapshotter); err != nil {
			return out, classify(fmt.Errorf("unpack image %q: %w", meta.Name, err))
		}
		info, err := r.imageInfo(ctx, img)
		if err != nil {
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

// translateRefName keeps an OCI ref.name only when it names a repository
// ("busybox:1.36", "example.com/app:v1"), normalised; a bare tag like
// "latest" carries no repository and is dropped.
func translateRefName(name string) string {
	if !strings.ContainsAny(name, "/:@") {
		return ""
	}
	n, err := NormalizeRef(name)
	if err != nil {
		return ""
	}
	return n
}

// ensureUnpacked unpacks img (whose facts are f) for the snapshotter if
// that has not happened yet: its snapshot, the chain ID, is missing.
func (r *Runtime) ensureUnpacked(ctx context.Context, img client.Image, f *imageFacts) error {
	_, err := r.client.SnapshotService(r.opts.Snapshotter).Stat(ctx, f.chainID)
	if err == nil {
		return nil
	}
	if !errdefs.IsNotFound(err) {
		return classify(fmt.Errorf("image %q: %w", img.Name(), err))
	}
	if err := img.Unpack(ctx, r.opts.Snapshotter); err != nil {
		return classify(fmt.Errorf("unpack image %q: %w", img.Name(), err))
	}
	return nil
}
