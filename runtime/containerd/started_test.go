package containerd

import (
	"context"
	"testing"
	"time"

	"github.com/miniagent/miniagent/runtime"
)

// TestStartedAtRightAfterStart: the start time is written to its label
// off the start's path, so ContainerStatus and ListContainers must show
// it at once (from memory) and it must then land in the label, where a
// restarted agent reads it; an exit recorded later keeps it.
func TestStartedAtRightAfterStart(t *testing.T) {
	p := newPod(t, false)
	ctx := context.Background()
	spec := p.spec("sleep", "1")
	if err := rt.CreateContainer(ctx, spec); err != nil {
		t.Fatal(err)
	}
	started, err := rt.StartContainer(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.ContainerStatus(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.StartedAt.Equal(started) {
		t.Fatalf("status right after start: started %v, want %v", st.StartedAt, started)
	}
	list, err := rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range list {
		if c.ID == spec.ID {
			found = true
			if !c.StartedAt.Equal(started) {
				t.Errorf("listed right after start: started %v, want %v", c.StartedAt, started)
			}
		}
	}
	if !found {
		t.Fatalf("%s not listed", spec.ID)
	}
	ev := hub.waitFor(t, spec.ID, runtime.EventExit, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := rt.client.ContainerService().Get(rt.ns(ctx), spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Labels[LabelExitCode] != "" {
			if got := labelTime(c.Labels, LabelStartedAt); !got.Equal(started) {
				t.Fatalf("label %s = %q, want %v", LabelStartedAt, c.Labels[LabelStartedAt], started)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exit (%+v) not recorded in labels within 10 s: %v", ev, c.Labels)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// What a restarted agent (nothing in memory) sees.
	rt.starts.Delete(spec.ID)
	st, err = rt.ContainerStatus(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateExited || !st.StartedAt.Equal(started) {
		t.Fatalf("status from the labels alone: %+v, want exited, started %v", st, started)
	}
}
