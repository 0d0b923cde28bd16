package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// What one run owns on the host. Runs with different namespaces (and so,
// by default, different cgroup roots and lock files) can run at once.
var (
	// testNamespace is the containerd namespace the e2e daemon uses; it is
	// emptied before and after the run (MINIAGENT_E2E_NAMESPACE).
	testNamespace = envOr("MINIAGENT_E2E_NAMESPACE", "miniagent-e2e")
	// cgroupRoot is the daemon's --cgroup-root, removed after the run
	// (MINIAGENT_E2E_CGROUP_ROOT, default the namespace).
	cgroupRoot = envOr("MINIAGENT_E2E_CGROUP_ROOT", testNamespace)
	// nodeName is the daemon's --node-name; static pods are named
	// <name>-<nodeName> (MINIAGENT_E2E_NODE_NAME, default <namespace>-node).
	nodeName = envOr("MINIAGENT_E2E_NODE_NAME", testNamespace+"-node")
	// runLock is the file whose flock serialises the e2e runs that use the
	// same namespace: each run empties it, which would break the other run.
	runLock = "/run/" + testNamespace + ".lock"
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// checkRunNames rejects names that would escape /run or the cgroup root.
func checkRunNames() error {
	for _, v := range []struct{ env, val string }{
		{"MINIAGENT_E2E_NAMESPACE", testNamespace},
		{"MINIAGENT_E2E_CGROUP_ROOT", cgroupRoot},
	} {
		if v.val == "." || v.val == ".." || strings.ContainsAny(v.val, "/ ") {
			return fmt.Errorf("%s=%q: want one path component", v.env, v.val)
		}
	}
	return nil
}

// lockWait bounds the wait for another run (go test's -timeout only starts
// counting in m.Run).
const lockWait = 15 * time.Minute

// lockRun takes runLock, waiting for another run of the namespace to finish.
func lockRun() (unlock func(), err error) {
	f, err := os.OpenFile(runLock, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", runLock, err)
	}
	start := time.Now()
	for waited := false; ; waited = true {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			if waited {
				fmt.Fprintf(os.Stderr, "e2e: got %s after %v\n", runLock, time.Since(start).Round(time.Second))
			}
			break
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", runLock, err)
		}
		if !waited {
			fmt.Fprintf(os.Stderr, "e2e: another end-to-end run holds %s; waiting for it to finish\n", runLock)
		}
		if time.Since(start) > lockWait {
			f.Close()
			return nil, fmt.Errorf("another end-to-end run held %s for more than %v", runLock, lockWait)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}
