package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// TestFaultKillDuringLivenessKill: a container that ignores SIGTERM fails
// its liveness probe from the first check, so the agent kills it with a
// 4 s grace period and starts it again, over and over. The daemon gets
// SIGKILL at a random moment of that (before, during or just after the
// first kill) and is started again at once. Afterwards the container never
// runs twice at a time, the instance whose kill was interrupted is dead
// within its grace period and a few seconds, the restart count never goes
// down and keeps growing, and deleting the pod leaves nothing.
func TestFaultKillDuringLivenessKill(t *testing.T) {
	rounds, rng := faultTest(t)
	for round := 1; round <= rounds; round++ {
		killAt := randDelay(rng, 1500*time.Millisecond, 8*time.Second)
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			t.Logf("round %d: SIGKILL of the daemon %v after the container first runs", round, killAt)
			killDuringLivenessKill(t, killAt)
		})
	}
}

func killDuringLivenessKill(t *testing.T, killAt time.Duration) {
	const name, grace = "liveness", 4
	r := newRig(t, false)
	manifest := probePod(name, `trap '' TERM; while true; do sleep 1; done`,
		execProbe("livenessProbe", "false", 2, 1, 1, 1),
		fmt.Sprintf("  terminationGracePeriodSeconds: %d\n", grace))
	if err := r.applyManifest(name, manifest); err != nil {
		t.Fatal(err)
	}
	w := newPodWatch(r)
	if !w.until(60*time.Second, allRunning([]string{name})) {
		t.Fatalf("pod not Running (list error %v):%s", w.err, describePods(w.last))
	}
	time.Sleep(killAt)
	before := int32(-1)
	if pods := w.poll(); pods != nil && pods[name] != nil {
		before = restartCount(pods[name])
	}
	insts, err := instancesOf(r.addr, r.name)
	if err != nil {
		t.Fatal(err)
	}
	var wasRunning []string // instances alive at the kill
	for _, in := range insts {
		if in.Task == string(client.Running) {
			wasRunning = append(wasRunning, in.ID)
		}
	}
	r.killDaemon()
	r.startDaemon()
	t.Logf("killed with restartCount %d shown and %d running instance(s) %v", before, len(wasRunning), shortIDs(wasRunning))

	// Watch containerd and the API for grace + 20 s.
	maxRestarts, overlaps := before, 0
	stale := map[string]bool{}
	for _, id := range wasRunning {
		stale[id] = true
	}
	staleDeadline := time.Now().Add(grace*time.Second + 8*time.Second)
	for end := time.Now().Add(grace*time.Second + 20*time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		insts, err := instancesOf(r.addr, r.name)
		if err != nil {
			t.Fatal(err)
		}
		var live []string
		for _, in := range insts {
			if in.Task == string(client.Running) && in.Container == "main" {
				live = append(live, in.ID)
			}
		}
		if len(live) > 1 {
			overlaps++
			if overlaps == 1 {
				t.Errorf("%s: %d instances of container main running at once: %v", time.Now().Format("15:04:05.000"), len(live), shortIDs(live))
			}
		}
		if time.Now().After(staleDeadline) {
			for _, id := range live {
				if stale[id] {
					t.Errorf("instance %s, alive when the daemon was killed, still runs %ds after the restart (grace %ds)",
						short(id), grace+8, grace)
					delete(stale, id)
				}
			}
		}
		if pods := w.poll(); pods != nil && pods[name] != nil {
			rc := restartCount(pods[name])
			if rc < maxRestarts {
				t.Errorf("restartCount went down to %d after %d had been shown", rc, maxRestarts)
			}
			if rc > maxRestarts {
				maxRestarts = rc
			}
		}
	}
	if overlaps > 1 {
		t.Errorf("two or more instances ran at once in %d of the polls", overlaps)
	}
	if maxRestarts <= before || maxRestarts < 1 {
		t.Errorf("restartCount %d %ds after the restart, was %d: the liveness restarts stopped", maxRestarts, grace+20, before)
	}
	if _, err := r.cli("delete", "pod", name, "--grace-period", "0", "--wait=true"); err != nil {
		t.Error(err)
	}
	r.checkNoLeftovers("after deleting the pod")
	if t.Failed() {
		t.Log(r.logTail(40))
	}
}

func shortIDs(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = short(id)
	}
	return out
}
