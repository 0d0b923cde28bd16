package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/miniagent/miniagent/cgroups"
	"github.com/miniagent/miniagent/runtime"
)

func TestImages(t *testing.T) {
	needRuntime(t)
	ctx := context.Background()
	info, err := rt.ImageStatus(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if info.Ref != "docker.io/library/busybox:latest" || !strings.HasPrefix(info.ID, "docker.io/library/busybox@sha256:") ||
		!strings.HasPrefix(info.ConfigID, "sha256:") || info.Size == 0 {
		t.Fatalf("image info %+v", info)
	}
	// By repo digest, as the kubelet shows it.
	byDigest, err := rt.ImageStatus(ctx, info.ID)
	if err != nil || byDigest.ID != info.ID {
		t.Fatalf("ImageStatus(%s) = %+v, %v", info.ID, byDigest, err)
	}
	if _, err := rt.ImageStatus(ctx, "nosuchimage:1.0"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("missing image: err = %v, want ErrNotFound", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	_, err = rt.PullImage(pctx, "registry.invalid/nothing/here:1", runtime.PullOptions{})
	if err == nil {
		t.Fatal("pull from an unreachable registry succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "registry.invalid") || !strings.Contains(msg, "pull image") {
		t.Fatalf("pull error does not say what and why: %v", err)
	}
	t.Logf("pull error: %v", err)
}

func TestRunWritesCRILogs(t *testing.T) {
	p := newPod(t, false)
	spec := p.spec("sh", "-c", "echo hello; echo err >&2; printf tail")
	ev := p.run(spec)
	if ev.ExitCode != 0 || ev.At.IsZero() {
		t.Fatalf("exit event %+v", ev)
	}
	// The unterminated "tail" is only flushed when the task is deleted.
	if err := rt.RemoveContainer(context.Background(), spec.ID); err != nil {
		t.Fatal(err)
	}
	recs := logRecords(t, spec.LogPath, 3)
	want := map[string]bool{"stdout F hello": true, "stderr F err": true, "stdout P tail": true}
	for _, r := range recs {
		if !want[r] {
			t.Errorf("unexpected record %q", r)
		}
		delete(want, r)
	}
	if len(want) > 0 {
		t.Errorf("missing records %v (have %q)", want, recs)
	}
}

func TestExitCodeAndStatus(t *testing.T) {
	p := newPod(t, false)
	spec := p.spec("sh", "-c", "sleep 0.2; exit 3")
	ctx := context.Background()
	if err := rt.CreateContainer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st, err := rt.ContainerStatus(ctx, spec.ID)
	if err != nil || st.State != runtime.StateCreated || st.CreatedAt.IsZero() {
		t.Fatalf("after create: %+v, %v", st, err)
	}
	if _, err := rt.StartContainer(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	st, err = rt.ContainerStatus(ctx, spec.ID)
	if err != nil || st.State != runtime.StateRunning || st.Pid == 0 || st.StartedAt.IsZero() {
		t.Fatalf("after start: %+v, %v", st, err)
	}
	ev := hub.waitFor(t, spec.ID, runtime.EventExit, 30*time.Second)
	if ev.ExitCode != 3 {
		t.Fatalf("exit code %d, want 3", ev.ExitCode)
	}
	st, err = rt.ContainerStatus(ctx, spec.ID)
	if err != nil || st.State != runtime.StateExited || st.ExitCode != 3 || st.FinishedAt.Before(st.StartedAt) || st.OOMKilled {
		t.Fatalf("after exit: %+v, %v", st, err)
	}
	list, err := rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range list {
		if c.ID == spec.ID {
			found = c.State == runtime.StateExited && c.ExitCode == 3 && c.Labels[runtime.LabelPodUID] == p.uid
		}
	}
	if !found {
		t.Fatalf("ListContainers lacks the exited container: %+v", list)
	}
	if _, err := rt.ContainerStatus(ctx, "no-such-container"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("status of missing container: %v", err)
	}
}

// TestExitSurvivesTaskDeletion checks that an exit is in the container's
// labels by the time Events reports it: with the task deleted behind the
// runtime's back, the status still shows the exit code and time, and an
// OOM kill.
func TestExitSurvivesTaskDeletion(t *testing.T) {
	p := newPod(t, false)
	plain := p.spec("sh", "-c", "exit 3")
	oom := p.spec("sh", "-c", "sleep 1; tail /dev/zero")
	oom.Resources.MemoryLimit = 16 << 20
	adj := 900
	oom.OOMScoreAdj = &adj
	for _, c := range []struct {
		spec      runtime.ContainerSpec
		code      int32
		oomKilled bool
	}{{plain, 3, false}, {oom, 137, true}} {
		ev := p.run(c.spec)
		ctx := namespaces.WithNamespace(context.Background(), testNamespace)
		task, err := rt.client.TaskService().Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: c.spec.ID})
		if err != nil || task.ExitStatus != uint32(c.code) {
			t.Fatalf("%s: delete the task: %v, %v", c.spec.ID, task, err)
		}
		st, err := rt.ContainerStatus(context.Background(), c.spec.ID)
		if err != nil || st.State != runtime.StateExited || st.ExitCode != c.code || !st.FinishedAt.Equal(ev.At) || st.OOMKilled != c.oomKilled {
			t.Fatalf("%s: status without the task: %+v, %v (exit event %+v)", c.spec.ID, st, err, ev)
		}
	}
}

func TestCommandArgsSemantics(t *testing.T) {
	p := newPod(t, false)
	tests := []struct {
		name          string
		command, args []string
		want          string
	}{
		// busybox image: no ENTRYPOINT, CMD ["sh"].
		{"command only", []string{"echo", "from-command"}, nil, "from-command"},
		{"args replace cmd", nil, []string{"echo", "from-args"}, "from-args"},
		{"command and args", []string{"sh", "-c"}, []string{"echo $0-$1", "a", "b"}, "a-b"},
		{"neither runs image cmd", nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := p.spec()
			spec.Command, spec.Args = tc.command, tc.args
			p.t = t
			ev := p.run(spec)
			if ev.ExitCode != 0 {
				t.Fatalf("exit %d", ev.ExitCode)
			}
			if tc.want == "" {
				return // sh without a terminal reads EOF and exits 0
			}
			recs := logRecords(t, spec.LogPath, 1)
			if len(recs) != 1 || recs[0] != "stdout F "+tc.want {
				t.Fatalf("log %q, want %q", recs, tc.want)
			}
		})
	}
}

func TestStopGraceAndKill(t *testing.T) {
	p := newPod(t, false)
	ctx := context.Background()
	// A trap makes PID 1 exit on SIGTERM.
	polite := p.spec("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done")
	p.start(polite)
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := rt.StopContainer(ctx, polite.ID, 0, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("SIGTERM stop took %v", d)
	}
	if ev := hub.waitFor(t, polite.ID, runtime.EventExit, 10*time.Second); ev.ExitCode != 0 {
		t.Fatalf("polite exit code %d", ev.ExitCode)
	}
	// sleep as PID 1 ignores SIGTERM: SIGKILL after the grace period.
	stubborn := p.spec("sleep", "1000")
	p.start(stubborn)
	start = time.Now()
	if err := rt.StopContainer(ctx, stubborn.ID, syscall.SIGTERM, time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second || d > 10*time.Second {
		t.Fatalf("stop with SIGKILL fallback took %v", d)
	}
	if ev := hub.waitFor(t, stubborn.ID, runtime.EventExit, 10*time.Second); ev.ExitCode != 137 {
		t.Fatalf("stubborn exit code %d, want 137", ev.ExitCode)
	}
	// Stopping an exited container is fine.
	if err := rt.StopContainer(ctx, stubborn.ID, 0, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestExec(t *testing.T) {
	p := newPod(t, false)
	ctx := context.Background()
	spec := p.spec("sleep", "1000")
	p.start(spec)
	res, err := rt.Exec(ctx, spec.ID, []string{"sh", "-c", "echo out; echo err >&2; exit 4"}, 10*time.Second, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 4 || !strings.Contains(string(res.Output), "out\n") || !strings.Contains(string(res.Output), "err\n") {
		t.Fatalf("exec result %d %q", res.ExitCode, res.Output)
	}
	res, err = rt.Exec(ctx, spec.ID, []string{"echo", "0123456789"}, 10*time.Second, 4)
	if err != nil || res.ExitCode != 0 || string(res.Output) != "0123" {
		t.Fatalf("capped exec: %d %q %v", res.ExitCode, res.Output, err)
	}
	start := time.Now()
	_, err = rt.Exec(ctx, spec.ID, []string{"sleep", "100"}, 500*time.Millisecond, 1024)
	if !errors.Is(err, runtime.ErrExecTimeout) {
		t.Fatalf("exec past timeout: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("timed-out exec returned after %v", d)
	}
	// Only the container's own process and the exec server are left: the
	// exec was killed.
	if execs := execProcesses(t, spec.ID); len(execs) != 1 || execs[0] != execServerID {
		t.Fatalf("processes besides the container's after a timed-out exec: %q", execs)
	}
	// Through runc exec the timed-out exec is killed and deleted too.
	if _, err := rtRunc.Exec(ctx, spec.ID, []string{"sleep", "100"}, 500*time.Millisecond, 1024); !errors.Is(err, runtime.ErrExecTimeout) {
		t.Fatalf("runc exec past timeout: %v", err)
	}
	if execs := execProcesses(t, spec.ID); len(execs) != 1 || execs[0] != execServerID {
		t.Fatalf("processes besides the container's after a timed-out runc exec: %q", execs)
	}
	for _, ev := range hub.of(spec.ID) {
		t.Fatalf("exec produced a container event: %+v", ev)
	}
	if _, err := rt.Exec(ctx, "no-such-container", []string{"true"}, time.Second, 10); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("exec in missing container: %v", err)
	}
}

func TestSandboxNamespaces(t *testing.T) {
	p := newPod(t, false)
	if !isNSMount(p.sb.NetNSPath) || !isNSMount(p.sb.IPCNSPath) {
		t.Fatalf("sandbox namespaces not mounted: %+v", p.sb)
	}
	// Idempotent: the same namespaces again.
	again, err := rt.CreateSandbox(context.Background(), runtime.SandboxConfig{PodUID: p.uid, CgroupParent: p.sb.CgroupParent})
	if err != nil || again != p.sb {
		t.Fatalf("second CreateSandbox = %+v, %v; want %+v", again, err, p.sb)
	}
	script := "cat /sys/class/net/lo/flags; readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; hostname"
	a, b := p.spec("sh", "-c", script), p.spec("sh", "-c", script)
	p.run(a)
	p.run(b)
	ra, rb := logRecords(t, a.LogPath, 4), logRecords(t, b.LogPath, 4)
	if len(ra) != 4 || len(rb) != 4 {
		t.Fatalf("logs %q %q", ra, rb)
	}
	var flags int
	if _, err := fmt.Sscanf(strings.TrimPrefix(ra[0], "stdout F "), "0x%x", &flags); err != nil || flags&1 == 0 {
		t.Fatalf("lo flags %q: not up", ra[0])
	}
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	if ra[1] != rb[1] || ra[2] != rb[2] {
		t.Fatalf("containers do not share namespaces: %q vs %q", ra, rb)
	}
	if ra[1] == "stdout F "+hostNet {
		t.Fatalf("container runs in the host network namespace")
	}
	if ra[3] != "stdout F testpod" {
		t.Fatalf("hostname %q", ra[3])
	}
	// No thread of this process was left inside a pod namespace.
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, f := range tasks {
		if ns, err := os.Readlink(f); err == nil && ns != hostNet {
			t.Errorf("thread %s is in %s, not the host's %s", f, ns, hostNet)
		}
	}
}

func TestHostNetworkSandbox(t *testing.T) {
	p := newPod(t, true)
	if p.sb.NetNSPath != "" || p.sb.IPCNSPath != "" {
		t.Fatalf("host sandbox has namespace paths: %+v", p.sb)
	}
	spec := p.spec("readlink", "/proc/self/ns/net")
	p.run(spec)
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	if recs := logRecords(t, spec.LogPath, 1); len(recs) != 1 || recs[0] != "stdout F "+hostNet {
		t.Fatalf("host network container sees %q, want %q", recs, hostNet)
	}
}

func TestOOMKill(t *testing.T) {
	p := newPod(t, false)
	// The shim watches the cgroup for OOM only once the task runs: a
	// container that runs out of memory at once can beat it to it (the kill
	// is still counted in the cgroup, which is what OOMKilled is read from).
	spec := p.spec("sh", "-c", "sleep 1; tail /dev/zero")
	spec.Resources.MemoryLimit = 16 << 20
	adj := 900
	spec.OOMScoreAdj = &adj
	p.run(spec)
	hub.waitFor(t, spec.ID, runtime.EventOOM, 10*time.Second)
	hub.waitFor(t, spec.ID, runtime.EventExit, 10*time.Second)
	// The OOM event usually comes first, but the shim sends the two from
	// different goroutines: under load the order can flip.
	var oom, exit bool
	for _, ev := range hub.of(spec.ID) {
		oom = oom || ev.Type == runtime.EventOOM
		exit = exit || (ev.Type == runtime.EventExit && ev.ExitCode == 137)
	}
	if !oom || !exit {
		t.Fatalf("events %+v, want an OOM event and exit 137", hub.of(spec.ID))
	}
	st, err := rt.ContainerStatus(context.Background(), spec.ID)
	if err != nil || !st.OOMKilled || st.ExitCode != 137 {
		t.Fatalf("status %+v, %v", st, err)
	}
}

func TestRemoveLeavesNothing(t *testing.T) {
	p := newPod(t, false)
	ctx := context.Background()
	spec := p.spec("sleep", "1000")
	p.start(spec)
	if !cgroups.Exists(spec.CgroupsPath) {
		t.Fatalf("container cgroup %s missing while running", spec.CgroupsPath)
	}
	if err := rt.StopContainer(ctx, spec.ID, syscall.SIGKILL, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := rt.RemoveContainer(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
	}
	nctx := rt.ns(ctx)
	if _, err := rt.client.LoadContainer(nctx, spec.ID); err == nil {
		t.Fatal("container still exists")
	}
	if _, err := rt.client.SnapshotService(rt.opts.Snapshotter).Stat(nctx, spec.ID); err == nil {
		t.Fatal("snapshot still exists")
	}
	for i := 0; i < 2; i++ {
		if err := rt.RemoveSandbox(ctx, p.sb); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{p.sb.NetNSPath, p.sb.IPCNSPath} {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("%s still exists: %v", path, err)
		}
	}
	if cgroups.Exists(p.sb.CgroupParent) {
		t.Fatalf("pod cgroup %s left behind", p.sb.CgroupParent)
	}
}

func TestLogsAndStatusSurviveAgentRestart(t *testing.T) {
	p := newPod(t, false)
	ctx := context.Background()
	// A separate Runtime plays the agent that goes away.
	agent, err := New(ctx, rt.opts)
	if err != nil {
		t.Fatal(err)
	}
	spec := p.spec("sh", "-c", "echo early; sleep 0.5; echo late; exit 5")
	if err := agent.CreateContainer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.StartContainer(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := agent.Close(); err != nil {
		t.Fatal(err)
	}
	ev := hub.waitFor(t, spec.ID, runtime.EventExit, 30*time.Second)
	if ev.ExitCode != 5 {
		t.Fatalf("exit %d", ev.ExitCode)
	}
	if recs := logRecords(t, spec.LogPath, 2); len(recs) != 2 || recs[1] != "stdout F late" {
		t.Fatalf("log after agent exit: %q", recs)
	}
	st, err := rt.ContainerStatus(ctx, spec.ID)
	if err != nil || st.State != runtime.StateExited || st.ExitCode != 5 || st.StartedAt.IsZero() {
		t.Fatalf("status seen by the next agent: %+v, %v", st, err)
	}
}

// TestBareWritableLayerIsListedAndRemoved: a snapshot left by an agent that
// died inside CreateContainer (no container record) is listed and removed
// like a container.
func TestBareWritableLayerIsListedAndRemoved(t *testing.T) {
	needRuntime(t)
	p := newPod(t, false)
	spec := p.spec("true")
	spec.ID = fmt.Sprintf("%064x", time.Now().UnixNano()) // the agent's ID form
	ctx := context.Background()
	if err := rt.CreateContainer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// Drop the container record only, keeping its writable layer.
	nctx := rt.ns(ctx)
	if err := rt.client.ContainerService().Delete(nctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	list, err := rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range list {
		if c.ID == spec.ID {
			found = c.State == runtime.StateUnknown && len(c.Labels) == 0
		}
	}
	if !found {
		t.Fatalf("bare writable layer %s not listed: %+v", spec.ID, list)
	}
	if err := rt.RemoveContainer(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.client.SnapshotService(rt.opts.Snapshotter).Stat(nctx, spec.ID); err == nil {
		t.Fatal("the snapshot is still there")
	}
}
