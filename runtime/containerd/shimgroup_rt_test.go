package containerd

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// TestPodSharesShim (real containerd): three containers of a pod run under
// one shim, which the reaper finds from each of them. Removing the first
// (whose bundle was the shim's working directory), twice, leaves the shim
// and the others running; a task lost to containerd is ended through the
// shim's task API without disturbing its neighbour; the shim exits with
// the pod's last task.
func TestPodSharesShim(t *testing.T) {
	p := newPod(t, false)
	ctx := context.Background()
	a, b, c := p.spec("sleep", "1000"), p.spec("sleep", "1000"), p.spec("sleep", "1000")
	p.start(a)
	p.start(b)
	p.start(c)
	shims := rt.findShims(a.ID)
	if len(shims) != 1 {
		t.Fatalf("findShims(first) = %+v, want one shim", shims)
	}
	shim := shims[0]
	for _, id := range []string{b.ID, c.ID} {
		if got := rt.findShims(id); len(got) != 1 || got[0].pid != shim.pid {
			t.Fatalf("findShims(%s) = %+v, want the shim %d", id, got, shim.pid)
		}
	}
	status := func(id string) client.ProcessStatus {
		cont, err := rt.client.LoadContainer(rt.ns(ctx), id)
		if err != nil {
			return "no container"
		}
		task, err := cont.Task(rt.ns(ctx), nil)
		if err != nil {
			return "no task"
		}
		st, err := task.Status(rt.ns(ctx))
		if err != nil {
			return client.ProcessStatus("status: " + err.Error())
		}
		return st.Status
	}

	if err := rt.StopContainer(ctx, a.ID, syscall.SIGKILL, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second finds no container: the reaper runs
		if err := rt.RemoveContainer(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Kill(shim.pid, 0); err != nil {
		t.Fatalf("the shim went with the first container: %v", err)
	}
	for _, id := range []string{b.ID, c.ID} {
		if st := status(id); st != client.Running {
			t.Fatalf("task %s is %s after the first container went, want running", id, st)
		}
	}

	// c is lost to containerd (pretend): only c ends.
	shim = rt.findShims(c.ID)[0]
	if err := reapShim(ctx, shim, c.ID, map[string]bool{b.ID: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(shim.dir, c.ID)); !os.IsNotExist(err) {
		t.Errorf("bundle of the lost task left: %v", err)
	}
	if st := status(b.ID); st != client.Running {
		t.Fatalf("task %s is %s after its neighbour was reaped, want running", b.ID, st)
	}
	if err := syscall.Kill(shim.pid, 0); err != nil {
		t.Fatalf("the shim went with the lost task: %v", err)
	}
	if err := rt.RemoveContainer(ctx, c.ID); err != nil {
		t.Fatalf("remove the reaped container: %v", err)
	}

	if err := rt.StopContainer(ctx, b.ID, syscall.SIGKILL, 0); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemoveContainer(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(shim.pid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(shim.pid, 0); err == nil {
		t.Errorf("the shim %d still runs after the pod's last task was deleted", shim.pid)
	}
}
