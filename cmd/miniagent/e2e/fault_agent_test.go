package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestFaultKillDuringApplies: the daemon gets SIGKILL at a random moment
// during a burst of 30 applies (0-2 s after the first one is acknowledged:
// the CLI alone can take most of a second to start on a busy machine) and
// is started again. Every pod whose apply
// was acknowledged exists and runs, once: restartCount 0 and exactly one
// containerd container with a running task per container; none is ever
// Failed. Deleting them all leaves nothing behind.
func TestFaultKillDuringApplies(t *testing.T) {
	rounds, rng := faultTest(t)
	for round := 1; round <= rounds; round++ {
		killAt := randDelay(rng, 0, 2*time.Second)
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			t.Logf("round %d: SIGKILL of the daemon %v after the first acknowledged apply", round, killAt)
			killDuringApplies(t, killAt)
		})
	}
}

func killDuringApplies(t *testing.T, killAt time.Duration) {
	const n = 30
	r := newRig(t, false)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("burst-%02d", i)
	}
	k := startKiller(r, killAt)
	// One apply every 70 ms: the burst spans ~2.1 s.
	res := paced(n, 70*time.Millisecond, k.stopped, func(i int) error {
		return k.note(r.applyManifest(names[i], podYAML(names[i], "Never", "sleep 3600")))
	})
	k.burstOver()
	acked, summary := ackedOf(res, names)
	ackedNames := sortedNames(acked)
	t.Logf("applies: %s; acknowledged: %v", summary, ackedNames)
	if len(ackedNames) == 0 {
		t.Log("no apply was acknowledged before the kill: this round checks only what the unacknowledged ones leave behind")
	}
	r.startDaemon()

	w := newPodWatch(r)
	if !w.until(90*time.Second, allRunning(ackedNames)) {
		t.Errorf("acknowledged pods not all Running 90s after the restart (list error %v):%s", w.err, describePods(w.last))
	}
	time.Sleep(3 * time.Second) // let a container started twice show up
	pods := w.poll()
	if pods == nil {
		t.Fatalf("list pods: %v", w.err)
	}
	for _, name := range ackedNames {
		p := pods[name]
		switch {
		case p == nil:
			t.Errorf("pod %s: acknowledged, missing after the restart", name)
		case !running(p):
			t.Errorf("pod %s: acknowledged, not running: %s", name, podLine(p))
		}
		if p != nil {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.RestartCount != 0 {
					t.Errorf("pod %s: container %s restartCount %d, want 0 (restartPolicy Never)", name, cs.Name, cs.RestartCount)
				}
			}
		}
	}
	var present []string
	for name, p := range pods {
		present = append(present, name)
		if !acked[name] && p.Status.Phase == v1.PodFailed {
			t.Errorf("pod %s (apply not acknowledged, but the pod exists): %s", name, podLine(p))
		}
	}
	for _, f := range w.failedLines() {
		t.Errorf("pod seen Failed: %s", f)
	}
	insts, err := instancesOf(r.addr, r.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkOneInstance(insts, pods, present) {
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

// TestFaultKillDuringDeletes: 20 running pods are deleted without waiting
// and the daemon gets SIGKILL at a random moment meanwhile (0-1.5 s after
// the first delete is acknowledged). After the
// restart every acknowledged delete completes (the pod leaves `get pods`)
// and, once the rest are deleted too, nothing is left behind.
func TestFaultKillDuringDeletes(t *testing.T) {
	rounds, rng := faultTest(t)
	for round := 1; round <= rounds; round++ {
		killAt := randDelay(rng, 0, 1500*time.Millisecond)
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			t.Logf("round %d: SIGKILL of the daemon %v after the first acknowledged delete", round, killAt)
			killDuringDeletes(t, killAt)
		})
	}
}

func killDuringDeletes(t *testing.T, killAt time.Duration) {
	const n = 20
	r := newRig(t, false)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("del-%02d", i)
		if err := r.applyManifest(names[i], podYAML(names[i], "Always", foreverScript)); err != nil {
			t.Fatal(err)
		}
	}
	w := newPodWatch(r)
	if !w.until(90*time.Second, allRunning(names)) {
		t.Fatalf("pods not Running before the deletes (list error %v):%s", w.err, describePods(w.last))
	}
	k := startKiller(r, killAt)
	// One delete every 60 ms (grace: the pod's 30 s; the containers exit on
	// SIGTERM at once).
	res := paced(n, 60*time.Millisecond, k.stopped, func(i int) error {
		_, err := r.cli("delete", "pod", names[i], "--wait=false")
		return k.note(err)
	})
	k.burstOver()
	acked, summary := ackedOf(res, names)
	ackedNames := sortedNames(acked)
	t.Logf("deletes: %s; acknowledged: %v", summary, ackedNames)
	r.startDaemon()

	if !w.until(60*time.Second, allGone(ackedNames)) {
		if w.last == nil {
			t.Fatalf("list pods: %v", w.err)
		}
		for _, name := range ackedNames {
			if p := w.last[name]; p != nil {
				t.Errorf("pod %s: delete acknowledged, still there 60s after the restart: %s", name, podLine(p))
			}
		}
	}
	if errs := r.deleteAll(); len(errs) > 0 {
		t.Errorf("delete the rest: %s", strings.Join(errs, "\n"))
	}
	r.checkNoLeftovers("after every pod was deleted")
	if t.Failed() {
		t.Log(r.logTail(40))
	}
}

// killer SIGKILLs a rig's daemon a delay after the first acknowledged call
// of a burst (or after the burst, if none was acknowledged).
type killer struct {
	acked, over, stopped chan struct{}
	once                 sync.Once
}

func startKiller(r *rig, delay time.Duration) *killer {
	k := &killer{acked: make(chan struct{}), over: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		select {
		case <-k.acked:
		case <-k.over:
		}
		time.Sleep(delay)
		r.killDaemon()
		close(k.stopped)
	}()
	return k
}

// note passes a call's result through, noting the first success.
func (k *killer) note(err error) error {
	if err == nil {
		k.once.Do(func() { close(k.acked) })
	}
	return err
}

// burstOver tells the killer no more calls come and waits for the kill.
func (k *killer) burstOver() {
	close(k.over)
	<-k.stopped
}
