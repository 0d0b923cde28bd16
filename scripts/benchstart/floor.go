package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"

	mcd "github.com/miniagent/miniagent/runtime/containerd"
)

// floorBench creates and starts the same container straight through
// containerd's Go client: the least any agent on this client can take.
//
// With a log shim the task's output goes, as the agent's does, through
// containerd's binary log driver to "<shim> crilog-shim <log file>".
type floorBench struct {
	o      options
	c      *client.Client
	ref    string
	shim   string // "" = null IO
	logDir string
}

func newFloorBench(ctx context.Context, o options, shim, logDir string) (*floorBench, error) {
	ref, err := mcd.NormalizeRef(o.image)
	if err != nil {
		return nil, err
	}
	c, err := client.New(o.address, client.WithDefaultNamespace(o.floorNamespace))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", o.address, err)
	}
	b := &floorBench{o: o, c: c, ref: ref, shim: shim, logDir: logDir}
	if _, err := c.GetImage(b.ns(ctx), ref); err != nil {
		c.Close()
		return nil, fmt.Errorf("image %s in namespace %s: %w", ref, o.floorNamespace, err)
	}
	return b, nil
}

func (b *floorBench) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, b.o.floorNamespace)
}

func (b *floorBench) close() {
	b.c.Close()
	if b.logDir != "" {
		os.RemoveAll(b.logDir)
	}
}

// once times image lookup, container + snapshot creation, task creation,
// Wait and Start; removal afterwards is not timed.
func (b *floorBench) once(ctx context.Context, i int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(b.ns(ctx), b.o.timeout)
	defer cancel()
	id := fmt.Sprintf("benchfloor-%d-%d", time.Now().UnixNano(), i+1)

	start := time.Now()
	img, err := b.c.GetImage(ctx, b.ref)
	if err != nil {
		return 0, fmt.Errorf("image %s: %w", b.ref, err)
	}
	c, err := b.c.NewContainer(ctx, id,
		client.WithImage(img),
		client.WithSnapshotter(mcd.DefaultSnapshotter),
		client.WithNewSnapshot(id, img),
		client.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "3600")),
	)
	if err != nil {
		return 0, fmt.Errorf("create container %s: %w", id, err)
	}
	defer b.remove(c)
	io := cio.NullIO
	if b.shim != "" {
		io = cio.BinaryIO(b.shim, mcd.ShimQuery([]string{b.shim, "crilog-shim"}, filepath.Join(b.logDir, id+".log")))
	}
	task, err := c.NewTask(ctx, io)
	if err != nil {
		return 0, fmt.Errorf("create task %s: %w", id, err)
	}
	if _, err := task.Wait(ctx); err != nil {
		return 0, fmt.Errorf("wait task %s: %w", id, err)
	}
	if err := task.Start(ctx); err != nil {
		return 0, fmt.Errorf("start task %s: %w", id, err)
	}
	return time.Since(start), nil
}

// remove kills and deletes the task, then the container and its snapshot.
func (b *floorBench) remove(c client.Container) {
	ctx, cancel := context.WithTimeout(b.ns(context.Background()), 30*time.Second)
	defer cancel()
	if task, err := c.Task(ctx, nil); err == nil {
		if exitCh, err := task.Wait(ctx); err == nil {
			if err := task.Kill(ctx, syscall.SIGKILL); err == nil || errdefs.IsNotFound(err) {
				select {
				case <-exitCh:
				case <-ctx.Done():
				}
			}
		}
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			fmt.Printf("warning: delete task %s: %v\n", c.ID(), err)
		}
	}
	if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		fmt.Printf("warning: delete container %s: %v\n", c.ID(), err)
	}
}
