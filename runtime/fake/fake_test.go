package fake

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/runtime"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func spec(id, pod string) runtime.ContainerSpec {
	return runtime.ContainerSpec{ID: id, Image: "docker.io/library/busybox:latest",
		Labels: map[string]string{runtime.LabelPodUID: pod, runtime.LabelContainerName: id}}
}

func newFake(t *testing.T) (*Runtime, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(t0)
	f := New(clk)
	f.AddImage(runtime.ImageInfo{Ref: "docker.io/library/busybox:latest"})
	return f, clk
}

func next(t *testing.T, ch <-chan runtime.Event) runtime.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event channel closed")
		}
		return ev
	case <-time.After(2 * time.Second):
		t.Fatal("no event")
	}
	return runtime.Event{}
}

func TestLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, clk := newFake(t)
	events := f.Events(ctx)

	sb, err := f.CreateSandbox(ctx, runtime.SandboxConfig{PodUID: "u1"})
	if err != nil || sb.NetNSPath == "" || sb.IPCNSPath == "" {
		t.Fatalf("CreateSandbox = %+v, %v", sb, err)
	}
	if again, _ := f.CreateSandbox(ctx, runtime.SandboxConfig{PodUID: "u1"}); again != sb {
		t.Errorf("second CreateSandbox = %+v, want %+v", again, sb)
	}
	if err := f.CreateContainer(ctx, spec("c1", "u1")); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateContainer(ctx, spec("c1", "u1")); err == nil {
		t.Error("duplicate CreateContainer succeeded")
	}
	st, _ := f.ContainerStatus(ctx, "c1")
	if st.State != runtime.StateCreated || !st.CreatedAt.Equal(t0) {
		t.Errorf("after create: %+v", st)
	}
	clk.Step(time.Second)
	if _, err := f.StartContainer(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	st, _ = f.ContainerStatus(ctx, "c1")
	if st.State != runtime.StateRunning || st.Pid == 0 || !st.StartedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("after start: %+v", st)
	}
	if _, err := f.StartContainer(ctx, "c1"); err == nil {
		t.Error("starting a running container succeeded")
	}

	at := t0.Add(5 * time.Second)
	if err := f.Exit("c1", 3, at); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev != (runtime.Event{Type: runtime.EventExit, ContainerID: "c1", ExitCode: 3, At: at}) {
		t.Errorf("event = %+v", ev)
	}
	st, _ = f.ContainerStatus(ctx, "c1")
	if st.State != runtime.StateExited || st.ExitCode != 3 || !st.FinishedAt.Equal(at) || st.Pid != 0 {
		t.Errorf("after exit: %+v", st)
	}
	if err := f.Exit("c1", 0, at); err == nil {
		t.Error("Exit of an exited container succeeded")
	}

	if err := f.RemoveSandbox(ctx, sb); err == nil {
		t.Error("RemoveSandbox with a container left succeeded")
	}
	for i := 0; i < 2; i++ {
		if err := f.RemoveContainer(ctx, "c1"); err != nil {
			t.Fatalf("RemoveContainer #%d: %v", i, err)
		}
	}
	if _, err := f.ContainerStatus(ctx, "c1"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("status of removed container: %v", err)
	}
	if err := f.RemoveSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveSandbox(ctx, sb); err != nil {
		t.Errorf("second RemoveSandbox: %v", err)
	}
	all := f.Containers()
	if len(all) != 1 || !all[0].Removed || all[0].ExitCode != 3 || all[0].Spec.ID != "c1" {
		t.Errorf("Containers() = %+v", all)
	}
	want := []string{"sandbox u1", "sandbox u1", "create c1", "create c1", "start c1", "start c1",
		"remove-sandbox u1", "remove c1", "remove c1", "remove-sandbox u1", "remove-sandbox u1"}
	if got := f.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("Calls() = %q\nwant %q", got, want)
	}
}

func TestStopOOMAndRemoveRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, clk := newFake(t)
	events := f.Events(ctx)
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := f.CreateContainer(ctx, spec(id, "u")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	clk.Step(time.Minute)
	now := clk.Now()

	if err := f.StopContainer(ctx, "a", syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.ContainerID != "a" || ev.ExitCode != 137 || ev.Type != runtime.EventExit || !ev.At.Equal(now) {
		t.Errorf("stop event = %+v", ev)
	}
	f.SetStopExitCode(143)
	if err := f.StopContainer(ctx, "b", 0, time.Second); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.ContainerID != "b" || ev.ExitCode != 143 {
		t.Errorf("stop event = %+v", ev)
	}
	if err := f.StopContainer(ctx, "b", 0, time.Second); err != nil {
		t.Errorf("stopping an exited container: %v", err)
	}
	wantStops := []StopRequest{{"a", int(syscall.SIGTERM), 30 * time.Second}, {"b", 0, time.Second}, {"b", 0, time.Second}}
	if got := f.Stops(); !reflect.DeepEqual(got, wantStops) {
		t.Errorf("Stops() = %+v", got)
	}

	if err := f.OOM("c"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.Type != runtime.EventOOM || ev.ContainerID != "c" {
		t.Errorf("oom event = %+v", ev)
	}
	if ev := next(t, events); ev.Type != runtime.EventExit || ev.ExitCode != 137 {
		t.Errorf("exit after oom = %+v", ev)
	}
	if st, _ := f.ContainerStatus(ctx, "c"); !st.OOMKilled || st.State != runtime.StateExited {
		t.Errorf("after OOM: %+v", st)
	}

	if err := f.RemoveContainer(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); ev.ContainerID != "d" || ev.ExitCode != 137 {
		t.Errorf("remove of running container: %+v", ev)
	}
	list, _ := f.ListContainers(ctx)
	if len(list) != 3 || list[0].ID != "a" || list[2].ID != "c" {
		t.Errorf("ListContainers = %+v", list)
	}
}

func TestFailuresAndUnavailable(t *testing.T) {
	ctx := context.Background()
	f, _ := newFake(t)
	boom := errors.New("boom")

	if _, err := f.ImageStatus(ctx, "nginx"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("ImageStatus of absent image: %v", err)
	}
	if err := f.CreateContainer(ctx, runtime.ContainerSpec{ID: "x", Image: "nginx"}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("create with absent image: %v", err)
	}
	f.SetPullError("nginx", boom)
	if _, err := f.PullImage(ctx, "nginx", runtime.PullOptions{}); !errors.Is(err, boom) {
		t.Errorf("pull with error set: %v", err)
	}
	f.SetPullError("nginx", nil)
	if info, err := f.PullImage(ctx, "nginx", runtime.PullOptions{}); err != nil || info.Ref != "nginx" || info.ID == "" {
		t.Errorf("pull: %+v, %v", info, err)
	}
	if _, err := f.ImageStatus(ctx, "nginx"); err != nil {
		t.Errorf("image absent after pull: %v", err)
	}

	f.FailNext("StartContainer", boom)
	f.FailNext("StartContainer", boom)
	_ = f.CreateContainer(ctx, spec("c", "u"))
	for i := 0; i < 2; i++ {
		if _, err := f.StartContainer(ctx, "c"); !errors.Is(err, boom) {
			t.Errorf("start #%d: %v, want boom", i, err)
		}
	}
	if _, err := f.StartContainer(ctx, "c"); err != nil {
		t.Errorf("third start: %v", err)
	}

	f.SetUnavailable(true)
	if err := f.Healthy(ctx); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("Healthy: %v", err)
	}
	if _, err := f.ListContainers(ctx); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("ListContainers: %v", err)
	}
	if err := f.StopContainer(ctx, "c", 0, 0); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("StopContainer: %v", err)
	}
	f.SetUnavailable(false)
	if err := f.Healthy(ctx); err != nil {
		t.Errorf("Healthy after recovery: %v", err)
	}
	if v, err := f.Version(ctx); err != nil || v == "" {
		t.Errorf("Version: %q, %v", v, err)
	}
	_ = f.Close()
	if err := f.Healthy(ctx); err == nil {
		t.Error("Healthy after Close succeeded")
	}
}

func TestExec(t *testing.T) {
	ctx := context.Background()
	f, _ := newFake(t)
	_ = f.CreateContainer(ctx, spec("c", "u"))
	if _, err := f.Exec(ctx, "c", []string{"true"}, time.Second, 10); err == nil {
		t.Error("exec in a created container succeeded")
	}
	_, _ = f.StartContainer(ctx, "c")
	if res, err := f.Exec(ctx, "c", []string{"true"}, time.Second, 10); err != nil || res.ExitCode != 0 {
		t.Errorf("default exec: %+v, %v", res, err)
	}
	var gotCmd []string
	f.OnExec(func(id string, cmd []string) (runtime.ExecResult, error) {
		gotCmd = cmd
		if cmd[0] == "slow" {
			return runtime.ExecResult{}, runtime.ErrExecTimeout
		}
		return runtime.ExecResult{ExitCode: 2, Output: []byte("0123456789abcdef")}, nil
	})
	res, err := f.Exec(ctx, "c", []string{"cat", "/x"}, time.Second, 10)
	if err != nil || res.ExitCode != 2 || string(res.Output) != "0123456789" || !reflect.DeepEqual(gotCmd, []string{"cat", "/x"}) {
		t.Errorf("exec: %+v, %v, cmd %q", res, err, gotCmd)
	}
	if _, err := f.Exec(ctx, "c", []string{"slow"}, time.Second, 10); !errors.Is(err, runtime.ErrExecTimeout) {
		t.Errorf("timeout exec: %v", err)
	}
	if _, err := f.Exec(ctx, "nope", []string{"true"}, time.Second, 10); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("exec in unknown container: %v", err)
	}
	calls := f.Calls()
	if calls[len(calls)-1] != "exec nope true" || calls[len(calls)-2] != "exec c slow" {
		t.Errorf("Calls() = %q", calls)
	}
}

func TestEventsFanOutAndClose(t *testing.T) {
	f, clk := newFake(t)
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	e1, e2 := f.Events(ctx1), f.Events(ctx2)
	// OnStart makes every container exit right after it starts.
	f.OnStart(func(id string) { _ = f.Exit(id, 0, clk.Now()) })

	const n = 50
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := string(rune('A'+i/26)) + string(rune('a'+i%26))
			if err := f.CreateContainer(context.Background(), spec(id, "u")); err != nil {
				t.Error(err)
				return
			}
			if _, err := f.StartContainer(context.Background(), id); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	seen1, seen2 := map[string]bool{}, map[string]bool{}
	for i := 0; i < n; i++ {
		seen1[next(t, e1).ContainerID] = true
		seen2[next(t, e2).ContainerID] = true
	}
	if len(seen1) != n || len(seen2) != n {
		t.Errorf("subscribers saw %d and %d distinct containers, want %d", len(seen1), len(seen2), n)
	}
	cancel1()
	for range e1 { // drains until closed
	}
	for _, c := range f.Containers() {
		if c.State != runtime.StateExited {
			t.Errorf("container %s is %s", c.ID, c.State)
		}
	}
}

func TestAttachStdin(t *testing.T) {
	f, _ := newFake(t)
	ctx := context.Background()
	for _, s := range []runtime.ContainerSpec{spec("plain", "p"), spec("open", "p"), spec("once", "p")} {
		s.Stdin, s.StdinOnce = s.ID != "plain", s.ID == "once"
		if err := f.CreateContainer(ctx, s); err != nil {
			t.Fatal(err)
		}
		if _, err := f.StartContainer(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	attach := func(id, in string) error { return f.AttachStdin(ctx, id, strings.NewReader(in), nil) }
	if err := attach("plain", "x"); !errors.Is(err, runtime.ErrNoStdin) {
		t.Fatalf("attach to a container without stdin: %v, want ErrNoStdin", err)
	}
	for _, in := range []string{"a\n", "b\n"} {
		if err := attach("open", in); err != nil {
			t.Fatal(err)
		}
	}
	if err := attach("once", "c\n"); err != nil {
		t.Fatal(err)
	}
	if err := attach("once", "d\n"); !errors.Is(err, runtime.ErrNoStdin) {
		t.Fatalf("second attach to a stdinOnce container: %v, want ErrNoStdin", err)
	}
	got := map[string]string{}
	for _, c := range f.Containers() {
		got[c.ID] = string(c.Stdin)
		if c.StdinClosed != (c.ID == "once") {
			t.Errorf("%s: StdinClosed %v", c.ID, c.StdinClosed)
		}
	}
	if want := map[string]string{"plain": "", "open": "a\nb\n", "once": "c\n"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("stdin written %v, want %v", got, want)
	}
}
