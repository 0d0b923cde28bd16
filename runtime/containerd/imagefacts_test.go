package containerd

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestImageFactsMatchTheClient: what the runtime reads once per image
// target (config, stop signal, user, size, the snapshot it unpacks to)
// is what containerd's client reads every time; a container made from
// the facts has the same spec, stop signal and snapshot parent as one
// made with the client's image options; and a name moved to another
// target is seen at once.
func TestImageFactsMatchTheClient(t *testing.T) {
	p := newPod(t, false)
	ctx := rt.ns(context.Background())
	img, err := rt.findImage(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ispec, err := img.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	size, err := img.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := rt.ImageStatus(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if info.ConfigID != cfg.Digest.String() || info.Size != size || info.User != ispec.Config.User || info.StopSignal != ispec.Config.StopSignal {
		t.Errorf("ImageStatus %+v; the client reads config %s, size %d, user %q, stop signal %q",
			info, cfg.Digest, size, ispec.Config.User, ispec.Config.StopSignal)
	}
	f, err := rt.factsOf(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if f.chainID != identity.ChainID(diffIDs).String() {
		t.Errorf("chain ID %s, the client's %s", f.chainID, identity.ChainID(diffIDs))
	}

	// The same container both ways.
	spec := p.spec("sleep", "1")
	if err := rt.CreateContainer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	ours, err := rt.client.LoadContainer(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	ref := spec.ID + "-ref"
	theirs, err := rt.client.NewContainer(ctx, ref,
		client.WithImage(img),
		client.WithImageStopSignal(img, "SIGTERM"),
		client.WithSnapshotter(rt.opts.Snapshotter),
		client.WithNewSnapshot(ref, img),
		client.WithNewSpec(append([]oci.SpecOpts{oci.WithImageConfig(img)}, kubeSpecOpts(ispec.Config, spec)...)...),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = theirs.Delete(context.Background(), client.WithSnapshotCleanup) })
	oi, err := ours.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ti, err := theirs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if oi.Image != ti.Image || oi.Snapshotter != ti.Snapshotter || oi.Labels[client.StopSignalLabel] != ti.Labels[client.StopSignalLabel] {
		t.Errorf("ours: image %q snapshotter %q stop signal %q; the client's: %q %q %q", oi.Image, oi.Snapshotter,
			oi.Labels[client.StopSignalLabel], ti.Image, ti.Snapshotter, ti.Labels[client.StopSignalLabel])
	}
	sn := rt.client.SnapshotService(rt.opts.Snapshotter)
	ourSnap, err := sn.Stat(ctx, oi.SnapshotKey)
	if err != nil {
		t.Fatal(err)
	}
	theirSnap, err := sn.Stat(ctx, ti.SnapshotKey)
	if err != nil {
		t.Fatal(err)
	}
	if ourSnap.Parent != theirSnap.Parent || ourSnap.Kind != theirSnap.Kind {
		t.Errorf("writable layer: ours on %q (%v), the client's on %q (%v)", ourSnap.Parent, ourSnap.Kind, theirSnap.Parent, theirSnap.Kind)
	}
	osp, err := ours.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tsp, err := theirs.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(osp.Process.User, tsp.Process.User) || !slices.Equal(osp.Process.Env, tsp.Process.Env) ||
		!slices.Equal(osp.Process.Args, tsp.Process.Args) || osp.Process.Cwd != tsp.Process.Cwd {
		t.Errorf("process: ours %+v, the client's %+v", osp.Process, tsp.Process)
	}

	// Another target under a name the runtime has read: seen at once.
	const moved = "docker.io/library/facts-moved:1"
	is := rt.client.ImageService()
	if _, err := is.Create(ctx, images.Image{Name: moved, Target: img.Target()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = is.Delete(context.Background(), moved) })
	if _, err := rt.ImageStatus(ctx, moved); err != nil {
		t.Fatal(err)
	}
	other := ocispec.Descriptor{MediaType: cfg.MediaType, Digest: cfg.Digest, Size: cfg.Size}
	if _, err := is.Update(ctx, images.Image{Name: moved, Target: other}, "target"); err != nil {
		t.Fatal(err)
	}
	// The config blob is no manifest: the new target cannot be read, and
	// the runtime must say so rather than answer from the old one.
	if got, err := rt.ImageStatus(ctx, moved); err == nil {
		t.Errorf("ImageStatus after the name moved to a config blob: %+v, no error", got)
	}
}
