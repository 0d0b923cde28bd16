package containerd

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/miniagent/miniagent/runtime"
)

// progressInterval is how often a pull's progress is sampled.
const progressInterval = 100 * time.Millisecond

// PullImage pulls ref from its registry and unpacks it for the snapshotter,
// reporting the blobs' progress to opts.Progress.
func (r *Runtime) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.ImageInfo, error) {
	ctx = r.ns(ctx)
	name, err := NormalizeRef(ref)
	if err != nil {
		return runtime.ImageInfo{}, err
	}
	pullOpts := []client.RemoteOpt{
		client.WithPullUnpack, client.WithPullSnapshotter(r.opts.Snapshotter),
		client.WithResolver(r.resolver()),
	}
	var tr *pullTracker
	if opts.Progress != nil {
		tr = &pullTracker{cs: r.client.ContentStore(), byDigest: map[string]int{}}
		pullOpts = append(pullOpts, client.WithImageHandler(images.HandlerFunc(tr.seen)))
		stop := tr.run(ctx, opts.Progress)
		defer stop()
	}
	img, err := r.client.Pull(ctx, name, pullOpts...)
	if err != nil {
		return runtime.ImageInfo{}, pullError(name, err)
	}
	return r.imageInfo(ctx, img)
}

// resolver talks plain HTTP to the registries in Options.InsecureRegistries
// and HTTPS to every other one (localhost included).
func (r *Runtime) resolver() remotes.Resolver {
	insecure := map[string]bool{}
	for _, h := range r.opts.InsecureRegistries {
		insecure[h] = true
	}
	plain := func(host string) (bool, error) { return insecure[host], nil }
	return docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithPlainHTTP(plain),
			docker.WithAuthorizer(docker.NewDockerAuthorizer()),
		),
	})
}

// ValidateRegistryHost checks a --insecure-registry value: HOST or HOST:PORT,
// no scheme or path.
func ValidateRegistryHost(h string) error {
	if h == "" {
		return fmt.Errorf("empty registry host")
	}
	host := h
	if hh, port, err := net.SplitHostPort(h); err == nil {
		if port == "" {
			return fmt.Errorf("registry %q: empty port", h)
		}
		host = hh
	}
	for _, c := range host {
		if !(c == '.' || c == '-' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("registry %q: want HOST or HOST:PORT (no scheme or path)", h)
		}
	}
	return nil
}

// pullTracker follows the blobs of one pull: the image handler names them
// as they are dispatched, the sampler reads the content store's ingests.
type pullTracker struct {
	cs       content.Store
	mu       sync.Mutex
	blobs    []trackedBlob
	byDigest map[string]int
}

type trackedBlob struct {
	desc ocispec.Descriptor
	key  string // the ingest ref of the fetch
	prog runtime.BlobProgress
}

// seen records desc, before it is fetched.
func (t *pullTracker) seen(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	status := "waiting"
	if _, err := t.cs.Info(ctx, desc.Digest); err == nil {
		status = "exists"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byDigest[desc.Digest.String()]; ok {
		return nil, nil
	}
	b := trackedBlob{desc: desc, key: remotes.MakeRefKey(ctx, desc), prog: runtime.BlobProgress{
		Digest: desc.Digest.String(), Kind: blobKind(desc.MediaType), Total: desc.Size, Status: status,
	}}
	if status == "exists" {
		b.prog.Done = desc.Size
	}
	t.byDigest[b.prog.Digest] = len(t.blobs)
	t.blobs = append(t.blobs, b)
	return nil, nil
}

func blobKind(mt string) string {
	switch {
	case images.IsIndexType(mt):
		return "index"
	case images.IsManifestType(mt):
		return "manifest"
	case images.IsLayerType(mt):
		return "layer"
	}
	return "config"
}

// run samples the pull until the returned stop is called; stop reports the
// final state once and waits for the sampler to end.
func (t *pullTracker) run(ctx context.Context, report func([]runtime.BlobProgress)) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		var last []runtime.BlobProgress
		for {
			select {
			case <-done:
				report(t.sample(ctx))
				return
			case <-tick.C:
				cur := t.sample(ctx)
				if !sameProgress(cur, last) {
					report(cur)
					last = cur
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}

// sample updates every blob from the content store: an ingest in flight is
// downloading, a blob in the store is done.
func (t *pullTracker) sample(ctx context.Context) []runtime.BlobProgress {
	active := map[string]content.Status{}
	if sts, err := t.cs.ListStatuses(ctx); err == nil {
		for _, st := range sts {
			active[st.Ref] = st
		}
	}
	t.mu.Lock()
	pending := make([]trackedBlob, len(t.blobs))
	copy(pending, t.blobs)
	t.mu.Unlock()
	for i := range pending {
		b := &pending[i]
		if b.prog.Status == "exists" || b.prog.Status == "done" {
			continue
		}
		if st, ok := active[b.key]; ok {
			b.prog.Status, b.prog.Done = "downloading", st.Offset
			if st.Total > 0 {
				b.prog.Total = st.Total
			}
			continue
		}
		if _, err := t.cs.Info(ctx, b.desc.Digest); err == nil {
			b.prog.Status, b.prog.Done = "done", b.desc.Size
		}
	}
	t.mu.Lock()
	out := make([]runtime.BlobProgress, len(t.blobs))
	for i := range t.blobs {
		if i < len(pending) {
			t.blobs[i].prog = pending[i].prog
		}
		out[i] = t.blobs[i].prog
	}
	t.mu.Unlock()
	return out
}

func sameProgress(a, b []runtime.BlobProgress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
