package containerd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// What the runtime reads of an image's content (its config, the diff IDs
// of its layers, its size) is fixed by the image's target digest: the
// content is addressed by digest and cannot change under it. Reading it
// through containerd's client costs a dozen content-store round trips
// (manifest, config, again for every helper that wants the config), paid
// on every container start. imageFacts reads it once per target digest;
// the name → target lookup, and whether the image is unpacked, are still
// asked of containerd every time.

// imageFacts is what one image target holds.
type imageFacts struct {
	config     ocispec.Descriptor // the config blob's descriptor
	configBlob []byte             // the config blob itself
	spec       ocispec.Image      // configBlob decoded
	chainID    string             // the snapshot the image unpacks to (ChainID of the diff IDs)
	size       int64              // img.Size: manifest, config and layers; -1 if it could not be read
}

// factsCache maps target digests to their facts.
type factsCache struct {
	mu sync.Mutex
	m  map[digest.Digest]*imageFacts
}

// maxFacts bounds the cache; past it the cache starts afresh (images are
// few on a node, and an entry is a config blob, a few KiB).
const maxFacts = 256

func (c *factsCache) get(d digest.Digest) *imageFacts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[d]
}

func (c *factsCache) put(d digest.Digest, f *imageFacts) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxFacts {
		c.m = map[digest.Digest]*imageFacts{}
	}
	c.m[d] = f
}

// factsOf returns img's facts, reading them from containerd's content
// store on first use of its target digest.
func (r *Runtime) factsOf(ctx context.Context, img client.Image) (*imageFacts, error) {
	target := img.Target().Digest
	if f := r.facts.get(target); f != nil {
		return f, nil
	}
	cfg, err := img.Config(ctx)
	if err != nil {
		return nil, classify(fmt.Errorf("image %q config: %w", img.Name(), err))
	}
	if !images.IsConfigType(cfg.MediaType) {
		return nil, fmt.Errorf("image %q: unknown config media type %s", img.Name(), cfg.MediaType)
	}
	blob, err := content.ReadBlob(ctx, img.ContentStore(), cfg)
	if err != nil {
		return nil, classify(fmt.Errorf("image %q config: %w", img.Name(), err))
	}
	f := &imageFacts{config: cfg, configBlob: blob, size: -1}
	if err := json.Unmarshal(blob, &f.spec); err != nil {
		return nil, fmt.Errorf("image %q config: %w", img.Name(), err)
	}
	f.chainID = identity.ChainID(f.spec.RootFS.DiffIDs).String()
	if size, err := img.Size(ctx); err == nil {
		f.size = size
	}
	r.facts.put(target, f)
	return f, nil
}

// factsImage is an oci.Image whose config is served from its facts: the
// image config spec options read it without asking containerd.
type factsImage struct {
	f     *imageFacts
	store content.Store
}

func (i factsImage) Config(context.Context) (ocispec.Descriptor, error) { return i.f.config, nil }

func (i factsImage) ContentStore() content.Store { return factsStore{Store: i.store, f: i.f} }

// factsStore answers reads of the config blob from memory and passes
// everything else to containerd's store.
type factsStore struct {
	content.Store
	f *imageFacts
}

func (s factsStore) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	if desc.Digest == s.f.config.Digest {
		return blobReader{bytes.NewReader(s.f.configBlob)}, nil
	}
	return s.Store.ReaderAt(ctx, desc)
}

// blobReader is a content.ReaderAt over bytes in memory.
type blobReader struct{ *bytes.Reader }

func (b blobReader) Close() error { return nil }

// withStopSignal records the image's stop signal (def when it names none)
// in the container's labels, as client.WithImageStopSignal does.
func withStopSignal(signal, def string) client.NewContainerOpts {
	return func(_ context.Context, _ *client.Client, c *containers.Container) error {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		if signal == "" {
			signal = def
		}
		c.Labels[client.StopSignalLabel] = signal
		return nil
	}
}

// withSnapshotOf prepares the container's writable layer id on the
// image's unpacked snapshot parent (its chain ID), as
// client.WithNewSnapshot does once it has read the image's diff IDs.
func withSnapshotOf(snapshotter, id, parent string) client.NewContainerOpts {
	return func(ctx context.Context, cl *client.Client, c *containers.Container) error {
		if _, err := cl.SnapshotService(snapshotter).Prepare(ctx, id, parent); err != nil {
			return err
		}
		c.Snapshotter, c.SnapshotKey = snapshotter, id
		return nil
	}
}
