package containerd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReapShims: a process that looks like an orphaned shim of this
// runtime (its namespace, container ID and daemon address) is ended with
// what runs below it, and its bundle removed; another namespace's is not.
func TestReapShims(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	r := &Runtime{opts: Options{Namespace: "reap-test", Address: "/tmp/reap-test.sock"}}
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	start := func(ns string) (*exec.Cmd, string) {
		bundle := filepath.Join(t.TempDir(), "io.containerd.runtime.v2.task", ns, id)
		if err := os.MkdirAll(bundle, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := &exec.Cmd{Path: "/bin/sh", Dir: bundle,
			Args: []string{"containerd-shim-runc-v2", "-c", "sleep 300 & wait", "-namespace", ns, "-id", id, "-address", r.opts.Address}}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		return cmd, bundle
	}
	shim, bundle := start("reap-test")
	other, otherBundle := start("someone-else")
	waitSleepChild(shim.Process.Pid)
	waitSleepChild(other.Process.Pid)
	kids := descendants(shim.Process.Pid)
	if len(kids) == 0 {
		t.Fatal("the fake shim's child did not start")
	}
	if got := r.findShims(id); len(got) != 1 || got[0].pid != shim.Process.Pid || filepath.Join(got[0].dir, got[0].id) != bundle {
		t.Fatalf("findShims = %+v, want pid %d bundle %s", got, shim.Process.Pid, bundle)
	}
	if err := reapShim(t.Context(), r.findShims(id)[0], id, map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	st, _ := shim.Process.Wait()
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("shim ended with %v, want SIGKILL", st)
	}
	// A SIGKILLed process takes a moment to die: it is gone, or a zombie.
	for _, p := range kids {
		alive := func() bool {
			stat, err := os.ReadFile(filepath.Join("/proc", itoa(p), "stat"))
			return err == nil && !isZombie(stat)
		}
		for deadline := time.Now().Add(5 * time.Second); alive() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if alive() {
			t.Errorf("child %d of the shim still runs", p)
		}
	}
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Errorf("bundle %s left: %v", bundle, err)
	}
	if err := syscall.Kill(other.Process.Pid, 0); err != nil {
		t.Errorf("another namespace's shim was ended: %v", err)
	}
	if _, err := os.Stat(otherBundle); err != nil {
		t.Errorf("another namespace's bundle removed: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// isZombie tells from /proc/<pid>/stat whether the process is a zombie
// (dead, not yet reaped by its new parent).
func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// waitSleepChild waits (up to 5 s) until the fake shim pid has a child that
// runs sleep: between its fork and its exec the child still has the shim's
// command line (and cwd and socket), and would count as a second shim.
func waitSleepChild(pid int) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, k := range descendants(pid) {
			if cmd, err := os.ReadFile(filepath.Join("/proc", itoa(k), "cmdline")); err == nil && strings.HasPrefix(string(cmd), "sleep\x00") {
				return
			}
		}
	}
}
