package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFaultContainerdKillDuringApplies: the rig's own containerd gets
// SIGKILL at a random moment during a burst of 20 applies and is started
// again after a random outage, while the burst goes on. No pod is ever
// Failed; every acknowledged pod reaches Running (allowing 90 s for retry
// back-off) with one containerd container and a running task; deleting
// them all leaves nothing behind, no shim either.
func TestFaultContainerdKillDuringApplies(t *testing.T) {
	rounds, rng := faultTest(t)
	for round := 1; round <= rounds; round++ {
		killAt := randDelay(rng, 0, 2*time.Second)
		down := randDelay(rng, 500*time.Millisecond, 3*time.Second)
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			t.Logf("round %d: SIGKILL of containerd %v into the burst, restarted %v later", round, killAt, down)
			containerdKillDuringApplies(t, killAt, down)
		})
	}
}

func containerdKillDuringApplies(t *testing.T, killAt, down time.Duration) {
	const n = 20
	r := newRig(t, true)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("ctd-%02d", i)
	}
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(killAt)
		r.ctd.kill()
		time.Sleep(down)
		restarted <- r.ctd.start()
	}()
	// One apply every 150 ms: the burst spans ~3 s around the outage.
	res := paced(n, 150*time.Millisecond, nil, func(i int) error {
		return r.applyManifest(names[i], podYAML(names[i], "Never", "sleep 3600"))
	})
	if err := <-restarted; err != nil {
		t.Fatalf("restart containerd: %v", err)
	}
	acked, summary := ackedOf(res, names)
	ackedNames := sortedNames(acked)
	t.Logf("applies: %s", summary)
	if !r.daemonAlive() {
		t.Fatalf("the daemon exited when containerd went away\n%s", r.logTail(40))
	}

	w := newPodWatch(r)
	if !w.until(90*time.Second, allRunning(ackedNames)) {
		t.Errorf("acknowledged pods not all Running 90s after containerd came back (list error %v):%s", w.err, describePods(w.last))
	}
	time.Sleep(2 * time.Second)
	pods := w.poll()
	if pods == nil {
		t.Fatalf("list pods: %v", w.err)
	}
	for _, name := range ackedNames {
		if pods[name] == nil {
			t.Errorf("pod %s: acknowledged, missing", name)
		}
	}
	for _, f := range w.failedLines() {
		t.Errorf("pod seen Failed: %s", f)
	}
	insts, err := instancesOf(r.addr, r.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkOneInstance(insts, pods, ackedNames) {
		t.Error(p)
	}
	if errs := r.deleteAll(); len(errs) > 0 {
		t.Errorf("delete: %s", strings.Join(errs, "\n"))
	}
	r.checkNoLeftovers("after deleting every pod")
	if t.Failed() {
		t.Log(r.logTail(40))
	}
}
