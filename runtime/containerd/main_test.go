package containerd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/miniagent/miniagent/cgroups"
	"github.com/miniagent/miniagent/runtime"
)

// The containerd namespace and cgroup root of the integration tests:
// MINIAGENT_E2E_NAMESPACE (the cgroup root follows it) gives a run its own;
// without it each test process has its own, so that two runs (CI beside a
// developer's run) never remove each other's image or containers.
var testNamespace, testCgroupRoot = func() (string, string) {
	if ns := os.Getenv("MINIAGENT_E2E_NAMESPACE"); ns != "" {
		return ns, "/" + ns
	}
	return fmt.Sprintf("miniagent-test-runtime-%d", os.Getpid()), fmt.Sprintf("/miniagent-test-%d", os.Getpid())
}()

// Shared state of the integration tests (nil rt: skipped).
var (
	rt       *Runtime // with the exec helper
	rtRunc   *Runtime // the same namespace, without it: every exec is a runc exec
	setupErr string
	hub      *eventHub
	tmpRoot  string
)

func TestMain(m *testing.M) {
	if id := os.Getenv(crashChildEnv); id != "" {
		os.Exit(execCrashChild(id))
	}
	code := func() int {
		if _, err := os.Stat(DefaultAddress); err != nil {
			setupErr = "no containerd socket at " + DefaultAddress
			return m.Run()
		}
		var err error
		tmpRoot, err = os.MkdirTemp("", "miniagent-rt-test-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(tmpRoot)
		cleanup, err := setup()
		if err != nil {
			fmt.Fprintln(os.Stderr, "integration setup:", err)
			return 1
		}
		defer cleanup()
		return m.Run()
	}()
	if localHelperDir != "" {
		_ = os.RemoveAll(localHelperDir)
	}
	os.Exit(code)
}

// setup builds the log shim and the busybox image, connects and imports.
func setup() (func(), error) {
	shim := filepath.Join(tmpRoot, "crilogshim")
	if out, err := exec.Command("go", "build", "-o", shim, "./testdata/crilogshim").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build log shim: %v\n%s", err, out)
	}
	helper, err := buildExecHelper(tmpRoot)
	if err != nil {
		return nil, err
	}
	tarPath := filepath.Join(tmpRoot, "busybox.tar")
	if out, err := exec.Command("bash", "../../scripts/build-busybox-image.sh", tarPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build busybox image: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := New(ctx, Options{
		Namespace:  testNamespace,
		StateDir:   filepath.Join(tmpRoot, "ns"),
		LogShim:    []string{shim, "crilog-shim"},
		ExecHelper: helper,
		Log:        slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return nil, err
	}
	plain, err := New(ctx, Options{Namespace: testNamespace, StateDir: filepath.Join(tmpRoot, "ns")})
	if err != nil {
		return nil, err
	}
	if err := r.Healthy(ctx); err != nil {
		return nil, err
	}
	f, err := os.Open(tarPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := r.ImportImage(ctx, f); err != nil {
		return nil, err
	}
	hubCtx, stopHub := context.WithCancel(context.Background())
	hub = newEventHub(r.Events(hubCtx))
	rt, rtRunc = r, plain
	return func() {
		stopHub()
		cleanupNamespace(r)
		_ = plain.Close()
		_ = r.Close()
	}, nil
}

// buildExecHelper builds the exec server as scripts/setup.sh does, into dir.
func buildExecHelper(dir string) (string, error) {
	out := filepath.Join(dir, "miniagent-exec")
	cmd := exec.Command("gcc", "-static", "-Os", "-s", "-Wall", "-o", out, "execserver/execserver.c")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build exec helper: %v\n%s", err, b)
	}
	return out, os.Chmod(out, 0o755)
}

// cleanupNamespace removes everything the tests left in the test namespace,
// and the namespace itself.
func cleanupNamespace(r *Runtime) {
	ctx := namespaces.WithNamespace(context.Background(), testNamespace)
	if cs, err := r.client.Containers(ctx); err == nil {
		for _, c := range cs {
			_ = r.RemoveContainer(ctx, c.ID())
		}
	}
	is := r.client.ImageService()
	if imgs, err := is.List(ctx); err == nil {
		for _, i := range imgs {
			_ = is.Delete(ctx, i.Name, images.SynchronousDelete())
		}
	}
	var err error
	for i := 0; i < 20; i++ {
		if err = r.client.NamespaceService().Delete(ctx, testNamespace); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cleanup: delete namespace:", err)
	}
	if err := cgroups.RemovePath(testCgroupRoot); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
	}
}

func needRuntime(t testing.TB) {
	t.Helper()
	if rt == nil {
		t.Skip(setupErr)
	}
}

// eventHub records every event so tests can wait for those of their
// containers regardless of when they subscribe.
type eventHub struct {
	mu     sync.Mutex
	cond   *sync.Cond
	events []runtime.Event
}

func newEventHub(ch <-chan runtime.Event) *eventHub {
	h := &eventHub{}
	h.cond = sync.NewCond(&h.mu)
	go func() {
		for ev := range ch {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.cond.Broadcast()
			h.mu.Unlock()
		}
	}()
	// Give the subscription time to be established.
	time.Sleep(200 * time.Millisecond)
	return h
}

// waitFor returns the first event of id and type, or fails after timeout.
func (h *eventHub) waitFor(t testing.TB, id string, typ runtime.EventType, timeout time.Duration) runtime.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { h.mu.Lock(); h.cond.Broadcast(); h.mu.Unlock() })
	defer timer.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		for _, ev := range h.events {
			if ev.ContainerID == id && ev.Type == typ {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event %d for %s within %v (have %+v)", typ, id, timeout, h.events)
		}
		h.cond.Wait()
	}
}

// of returns all recorded events of id, in order.
func (h *eventHub) of(id string) []runtime.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []runtime.Event
	for _, ev := range h.events {
		if ev.ContainerID == id {
			out = append(out, ev)
		}
	}
	return out
}

// testPod is one sandbox with helpers to run containers in it.
type testPod struct {
	t   testing.TB
	uid string
	sb  runtime.Sandbox
	n   int
}

func newPod(t testing.TB, hostNet bool) *testPod {
	t.Helper()
	needRuntime(t)
	uid := fmt.Sprintf("uid-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano())
	sb, err := rt.CreateSandbox(context.Background(), runtime.SandboxConfig{
		PodUID: uid, Namespace: "default", Name: t.Name(), HostNetwork: hostNet, HostIPC: hostNet,
		CgroupParent: testCgroupRoot + "/pod" + uid,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPod{t: t, uid: uid, sb: sb}
	t.Cleanup(func() {
		ctx := context.Background()
		if cs, err := rt.ListContainers(ctx); err == nil {
			for _, c := range cs {
				if c.Labels[runtime.LabelPodUID] == uid {
					_ = rt.RemoveContainer(ctx, c.ID)
				}
			}
		}
		_ = rt.RemoveSandbox(ctx, sb)
	})
	return p
}

// spec returns a container spec in the pod running command.
func (p *testPod) spec(command ...string) runtime.ContainerSpec {
	p.n++
	id := fmt.Sprintf("%s-c%d", p.uid, p.n)
	return runtime.ContainerSpec{
		ID: id,
		Labels: map[string]string{
			runtime.LabelPodUID: p.uid, runtime.LabelPodNamespace: "default",
			runtime.LabelPodName: "test", runtime.LabelContainerName: fmt.Sprintf("c%d", p.n),
			runtime.LabelAttempt: "0",
		},
		Image:       "busybox",
		Command:     command,
		Sandbox:     p.sb,
		Hostname:    "testpod",
		CgroupsPath: p.sb.CgroupParent + "/" + id,
		LogPath:     filepath.Join(tmpRoot, "logs", p.uid, fmt.Sprintf("c%d", p.n), "0.log"),
	}
}

// start creates and starts spec.
func (p *testPod) start(spec runtime.ContainerSpec) {
	p.t.Helper()
	ctx := context.Background()
	if err := rt.CreateContainer(ctx, spec); err != nil {
		p.t.Fatal(err)
	}
	if _, err := rt.StartContainer(ctx, spec.ID); err != nil {
		p.t.Fatal(err)
	}
}

// run starts spec and waits for its exit event.
func (p *testPod) run(spec runtime.ContainerSpec) runtime.Event {
	p.t.Helper()
	p.start(spec)
	return hub.waitFor(p.t, spec.ID, runtime.EventExit, 30*time.Second)
}

// logRecords waits until the log file holds want records and returns them
// as "<stream> <tag> <content>".
func logRecords(t *testing.T, path string, want int) []string {
	t.Helper()
	var recs []string
	deadline := time.Now().Add(30 * time.Second) // returns as soon as it has want records
	for {
		recs = recs[:0]
		data, _ := os.ReadFile(path)
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if line == "" {
				continue
			}
			parts := strings.SplitN(line, " ", 2)
			if _, err := time.Parse(time.RFC3339Nano, parts[0]); err != nil || len(parts) != 2 {
				t.Fatalf("malformed record %q", line)
			}
			recs = append(recs, parts[1])
		}
		if len(recs) >= want || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustContainer(t *testing.T, id string) interface {
	Task(context.Context, cio.Attach) (client.Task, error)
} {
	t.Helper()
	c, err := rt.client.LoadContainer(rt.ns(context.Background()), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
