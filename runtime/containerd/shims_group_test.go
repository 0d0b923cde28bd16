package containerd

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/types/known/emptypb"
)

// fakeTaskService records the calls a reaper makes to a shim's task API.
type fakeTaskService struct {
	taskapi.TTRPCTaskService // nil: any other call panics the test
	mu                       sync.Mutex
	calls                    []string
}

func (f *fakeTaskService) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeTaskService) Kill(_ context.Context, r *taskapi.KillRequest) (*emptypb.Empty, error) {
	f.record("kill " + r.ID)
	return &emptypb.Empty{}, nil
}

func (f *fakeTaskService) Wait(_ context.Context, r *taskapi.WaitRequest) (*taskapi.WaitResponse, error) {
	f.record("wait " + r.ID)
	return &taskapi.WaitResponse{ExitStatus: 137}, nil
}

func (f *fakeTaskService) Delete(_ context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	f.record("delete " + r.ID)
	return &taskapi.DeleteResponse{}, nil
}

// groupShim is a process that looks like a shared shim: started for task
// first (its -id and working directory), holding a listening socket whose
// path the address files of the bundles of first and others name. The
// socket is served by svc in the test process.
type groupShim struct {
	cmd     *exec.Cmd
	dir     string // the namespace's task directory
	svc     *fakeTaskService
	bundles map[string]string
}

func startGroupShim(t *testing.T, r *Runtime, first string, others ...string) *groupShim {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "io.containerd.runtime.v2.task", r.opts.Namespace)
	// A short socket path: sun_path holds 108 bytes.
	sockDir, err := os.MkdirTemp("", "shim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s")
	// The socket is made by hand: the fake shim inherits this descriptor,
	// and the test serves a non-blocking duplicate of it (a listener's
	// File() would leave Accept blocking and the server unclosable).
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), sock)
	defer f.Close()
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		t.Fatal(err)
	}
	l, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	g := &groupShim{dir: dir, svc: &fakeTaskService{}, bundles: map[string]string{}}
	srv, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	taskapi.RegisterTTRPCTaskService(srv, g.svc)
	go func() { _ = srv.Serve(context.Background(), l) }()
	t.Cleanup(func() { _ = srv.Close() })
	for _, id := range append([]string{first}, others...) {
		b := filepath.Join(dir, id)
		if err := os.MkdirAll(b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(b, "address"), []byte("unix://"+sock), 0o644); err != nil {
			t.Fatal(err)
		}
		g.bundles[id] = b
	}
	g.cmd = &exec.Cmd{Path: "/bin/sh", Dir: g.bundles[first], ExtraFiles: []*os.File{f},
		Args: []string{"containerd-shim-runc-v2", "-c", "sleep 300 & wait", "-namespace", r.opts.Namespace, "-id", first, "-address", r.opts.Address}}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.cmd.Process.Kill(); _, _ = g.cmd.Process.Wait() })
	waitSleepChild(g.cmd.Process.Pid)
	return g
}

// TestReapSharedShim: a shim serving the tasks of several containers is
// found from any of them; the lost task of a shim that still serves a task
// containerd knows is ended through the shim's task API, the shim and the
// other bundles left alone; a shim none of whose tasks containerd knows is
// ended, with the bundles of all its tasks.
func TestReapSharedShim(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	r := &Runtime{opts: Options{Namespace: "reap-group-test", Address: "/tmp/reap-group-test.sock"}}
	const a, b, c = "aaaa", "bbbb", "cccc"

	t.Run("still serves a known task", func(t *testing.T) {
		g := startGroupShim(t, r, a, b, c)
		for _, id := range []string{a, b, c} {
			got := r.findShims(id)
			if len(got) != 1 || got[0].pid != g.cmd.Process.Pid {
				t.Fatalf("findShims(%s) = %+v, want the shim %d", id, got, g.cmd.Process.Pid)
			}
		}
		if got := r.findShims("dddd"); len(got) != 0 {
			t.Fatalf("findShims of a task the shim does not serve = %+v", got)
		}
		s := r.findShims(a)[0]
		if got := s.tasks(); !slices.Equal(sorted(got), []string{a, b, c}) {
			t.Fatalf("tasks = %v, want %v", got, []string{a, b, c})
		}
		// The first task (the shim's -id and cwd) was lost; b is known.
		if err := reapShim(t.Context(), s, a, map[string]bool{b: true}); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(g.cmd.Process.Pid, 0); err != nil {
			t.Fatalf("the shim serving a known task was ended: %v", err)
		}
		g.svc.mu.Lock()
		calls := slices.Clone(g.svc.calls)
		g.svc.mu.Unlock()
		if want := []string{"kill " + a, "wait " + a, "delete " + a}; !slices.Equal(calls, want) {
			t.Errorf("shim API calls = %v, want %v", calls, want)
		}
		if _, err := os.Stat(g.bundles[a]); !os.IsNotExist(err) {
			t.Errorf("bundle of the lost task left: %v", err)
		}
		for _, id := range []string{b, c} {
			if _, err := os.Stat(g.bundles[id]); err != nil {
				t.Errorf("bundle of %s removed: %v", id, err)
			}
		}
		// Its cwd is gone now: the shim is still found from the others.
		if got := r.findShims(c); len(got) != 1 || got[0].pid != g.cmd.Process.Pid {
			t.Errorf("findShims(%s) after the first bundle went = %+v", c, got)
		}
	})

	t.Run("serves no known task", func(t *testing.T) {
		g := startGroupShim(t, r, a, b)
		s := r.findShims(b)
		if len(s) != 1 {
			t.Fatalf("findShims(%s) = %+v", b, s)
		}
		if err := reapShim(t.Context(), s[0], b, map[string]bool{"other-pod": true}); err != nil {
			t.Fatal(err)
		}
		st, _ := g.cmd.Process.Wait()
		if ws, ok := st.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("shim ended with %v, want SIGKILL", st)
		}
		for _, id := range []string{a, b} {
			if _, err := os.Stat(g.bundles[id]); !os.IsNotExist(err) {
				t.Errorf("bundle of %s left: %v", id, err)
			}
		}
		if len(g.svc.calls) != 0 {
			t.Errorf("shim API called: %v", g.svc.calls)
		}
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
