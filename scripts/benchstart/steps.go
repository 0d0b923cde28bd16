package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/miniagent/miniagent/runtime"
	mcd "github.com/miniagent/miniagent/runtime/containerd"
)

// The steps the agent's pod worker runs for a new one-container pod, in order.
var stepNames = []string{"image status", "create sandbox", "create container", "start container", "container status", "total"}

type stepTimes map[string]time.Duration

// stepsBench drives runtime/containerd the way the agent does, timing each
// call, in a namespace of its own.
type stepsBench struct {
	o      options
	rt     *mcd.Runtime
	logDir string
	ref    string
}

func newStepsBench(ctx context.Context, o options) (*stepsBench, error) {
	if o.stepsStateDir == "" || !filepath.IsAbs(o.stepsStateDir) {
		return nil, fmt.Errorf("--steps-state-dir must be an absolute path")
	}
	var shim []string
	if o.logShim != "" {
		shim = []string{o.logShim, "crilog-shim"}
	}
	rt, err := mcd.New(ctx, mcd.Options{
		Address: o.address, Namespace: o.stepsNamespace,
		StateDir: filepath.Join(o.stepsStateDir, "ns"), LogShim: shim,
	})
	if err != nil {
		return nil, err
	}
	ref, err := mcd.NormalizeRef(o.image)
	if err != nil {
		rt.Close()
		return nil, err
	}
	logDir := filepath.Join(o.stepsStateDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		rt.Close()
		return nil, err
	}
	return &stepsBench{o: o, rt: rt, logDir: logDir, ref: ref}, nil
}

func (b *stepsBench) close() {
	b.rt.Close()
	os.RemoveAll(b.logDir)
}

// once runs one pod's worth of runtime calls and removes what it made.
func (b *stepsBench) once(ctx context.Context, i int) (stepTimes, error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	uid := fmt.Sprintf("benchsteps-%d-%d", time.Now().UnixNano(), i+1)
	id := uid + "-sleep"
	parent := "/miniagent-bench-steps/pod" + uid
	times := stepTimes{}
	mark := time.Now()
	first := mark
	step := func(name string) {
		now := time.Now()
		times[name] = now.Sub(mark)
		mark = now
	}

	if _, err := b.rt.ImageStatus(ctx, b.ref); err != nil {
		return nil, err
	}
	step("image status")
	sb, err := b.rt.CreateSandbox(ctx, runtime.SandboxConfig{PodUID: uid, Namespace: "default", Name: uid, CgroupParent: parent})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := b.rt.RemoveSandbox(context.Background(), sb); err != nil {
			fmt.Printf("warning: remove sandbox %s: %v\n", uid, err)
		}
	}()
	step("create sandbox")
	adj := 1000 // what the agent gives a BestEffort container
	spec := runtime.ContainerSpec{
		ID:          id,
		Labels:      map[string]string{runtime.LabelPodUID: uid, runtime.LabelContainerName: "sleep", runtime.LabelAttempt: "0"},
		Image:       b.ref,
		Command:     []string{"sleep", "3600"},
		Sandbox:     sb,
		Hostname:    "bench",
		CgroupsPath: parent + "/" + id,
		OOMScoreAdj: &adj,
		LogPath:     filepath.Join(b.logDir, uid+".log"),
	}
	if err := b.rt.CreateContainer(ctx, spec); err != nil {
		return nil, err
	}
	defer func() {
		if err := b.rt.RemoveContainer(context.Background(), id); err != nil {
			fmt.Printf("warning: remove container %s: %v\n", id, err)
		}
	}()
	step("create container")
	if _, err := b.rt.StartContainer(ctx, id); err != nil {
		return nil, err
	}
	step("start container")
	st, err := b.rt.ContainerStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.State != runtime.StateRunning {
		return nil, fmt.Errorf("container %s is %s after start", id, st.State)
	}
	step("container status")
	times["total"] = time.Since(first)
	return times, nil
}
