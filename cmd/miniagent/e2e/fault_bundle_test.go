package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFaultContainerdKilledBeforeShim: containerd is SIGKILLed after it
// made a task's bundle and before the task's shim started. A stand-in
// for the runc v2 shim holds `start` at that point; every other call goes
// to the installed shim. Restarted, containerd keeps that bundle: the
// shim's delete it runs for the dead task fails (no runtime file), and
// containerd keeps the bundle of a failed delete. The pod must still
// reach Running, and deleting it must leave nothing, that bundle included.
func TestFaultContainerdKilledBeforeShim(t *testing.T) {
	faultTest(t)
	real, err := exec.LookPath("containerd-shim-runc-v2")
	if err != nil {
		t.Fatalf("the runc v2 shim: %v", err)
	}
	shimDir := t.TempDir()
	hold, held := filepath.Join(shimDir, "hold"), filepath.Join(shimDir, "held")
	script := fmt.Sprintf(`#!/bin/sh
# Holds "start" while %[1]s exists (writing its pid to %[2]s); else the real shim.
for a in "$@"; do
	if [ "$a" = start ] && [ -e %[1]s ]; then echo $$ > %[2]s.tmp && mv %[2]s.tmp %[2]s; exec sleep 3600; fi
done
exec %[3]s "$@"
`, hold, held, real)
	if err := os.WriteFile(filepath.Join(shimDir, "containerd-shim-runc-v2"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRigShim(t, true, shimDir, logModeArgs()...)
	if err := r.applyManifest("held", podYAML("held", "Never", "sleep 3600")); err != nil {
		t.Fatalf("apply: %v", err)
	}
	var pid int
	deadline := time.Now().Add(60 * time.Second)
	for {
		if raw, err := os.ReadFile(held); err == nil {
			if pid, err = strconv.Atoi(strings.TrimSpace(string(raw))); err != nil {
				t.Fatalf("%s: %v", held, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd never started a shim for the pod\n%s", r.logTail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	tasks := filepath.Join(r.ctdState, "io.containerd.runtime.v2.task", r.name)
	bundles := func() []string {
		ents, _ := os.ReadDir(tasks)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	r.ctd.kill()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatal(err)
	}
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	before := bundles()
	if len(before) != 1 {
		t.Fatalf("bundles with containerd killed in the shim's start: %q, want the held task's", before)
	}
	if err := r.ctd.start(); err != nil {
		t.Fatalf("restart containerd: %v", err)
	}
	// The premise: containerd's restart did not remove the bundle itself.
	if after := bundles(); !slices.Contains(after, before[0]) {
		t.Fatalf("containerd's restart removed the lost bundle %s itself (now %q): this test no longer shows anything", before[0], after)
	}
	r.waitPhase("held", 90*time.Second, running)
	if errs := r.deleteAll(); len(errs) > 0 {
		t.Errorf("delete: %s", strings.Join(errs, "\n"))
	}
	r.checkNoLeftovers("after deleting the pod")
	if t.Failed() {
		t.Log(r.logTail(40))
	}
}
