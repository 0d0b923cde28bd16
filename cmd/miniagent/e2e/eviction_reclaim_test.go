package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/cgroups"
)

// TestEvictionReclaim: after the eviction manager evicts a pod it waits for
// the pod's memory to be given back before it evicts another. A daemon
// whose pods cgroup is limited to 800Mi (as in TestQoSOrderUnderSmallAllocatable)
// has the hard threshold allocatableMemory.available<350Mi. A Guaranteed
// pod (300Mi request = limit) holding 200 MiB and a Burstable pod (100Mi
// request) holding 50 MiB leave ~545Mi available; a BestEffort hog then
// writes 300 MiB into a memory-backed emptyDir, which takes the signal to
// ~245Mi. The hog is evicted; once it is cleaned up (its tmpfs unmounted)
// the signal is back above the threshold, and the other two pods must
// survive a sustained window with no further eviction.
func TestEvictionReclaim(t *testing.T) {
	x := e2e(t)
	needsWiring(t, x)
	root := cgroupRoot + "-reclaim"
	const (
		alloc      = int64(800 << 20)
		threshold  = int64(350 << 20)
		hogMiB     = 300
		transition = 10 * time.Second
		window     = 30 * time.Second
	)
	y := startExtraDaemon(t, x, root,
		"--kube-reserved", fmt.Sprintf("memory=%d", memTotal(t)-alloc), "--enforce-node-allocatable", "pods",
		"--eviction-hard", "allocatableMemory.available<350Mi", "--eviction-monitoring-period", "1s",
		"--eviction-pressure-transition-period", transition.String())
	cg, err := cgroups.NewManager(root)
	if err != nil {
		t.Fatal(err)
	}
	// available is the signal as the daemon's observer computes it.
	available := func() int64 {
		st, err := cg.MemoryStats(cg.TopPath())
		if err != nil {
			t.Fatalf("pods cgroup memory: %v", err)
		}
		return alloc - st.WorkingSet
	}
	mib := func(b int64) string { return fmt.Sprintf("%dMi", b>>20) }

	pod := func(name, resources, volumes, script string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
%s%s`, name, script, resources, volumes)
	}
	// hold keeps n MiB of anonymous memory (see TestQoSOrderUnderSmallAllocatable).
	hold := func(n int) string { return fmt.Sprintf("dd if=/dev/zero bs=%dM count=1 | sleep 3600", n) }
	get := func(name string) *v1.Pod {
		p, _, err := tryGetPod(y, name)
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		return p
	}
	evicted := func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed && p.Status.Reason == "Evicted" }
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s (allocatableMemory.available %s)\n%s", timeout, what, mib(available()), y.logTail(30))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	const (
		guaranteed = "e2e-reclaim-guaranteed"
		burstable  = "e2e-reclaim-burstable"
		hog        = "e2e-reclaim-hog"
	)
	applyTo(t, y, pod(guaranteed, "    resources:\n      limits: {cpu: 100m, memory: 300Mi}\n", "", hold(200)))
	applyTo(t, y, pod(burstable, "    resources:\n      requests: {memory: 100Mi}\n", "", hold(50)))
	for _, name := range []string{guaranteed, burstable} {
		waitFor(name+" running", 60*time.Second, func() bool { return running(get(name)) })
	}
	waitFor("the two pods' 250 MiB allocated", 30*time.Second, func() bool { return available() <= alloc-240<<20 })
	if a := available(); a < threshold+100<<20 {
		t.Fatalf("allocatableMemory.available %s before the hog, want well above the threshold %s", mib(a), mib(threshold))
	}
	for _, name := range []string{guaranteed, burstable} {
		if q := get(name).Status.QOSClass; (name == guaranteed) != (q == v1.PodQOSGuaranteed) {
			t.Fatalf("%s has QoS class %s", name, q)
		}
	}

	applyTo(t, y, pod(hog, "    volumeMounts:\n    - {name: cache, mountPath: /cache}\n",
		"  volumes:\n  - name: cache\n    emptyDir: {medium: Memory}\n",
		fmt.Sprintf("dd if=/dev/zero of=/cache/fill bs=1M count=%d && sleep 3600", hogMiB)))
	waitFor("the BestEffort hog evicted", 60*time.Second, func() bool { return evicted(get(hog)) })
	evictedAt := time.Now()
	hogPod := get(hog)
	if hogPod.Status.QOSClass != v1.PodQOSBestEffort {
		t.Errorf("hog QoS class %s, want BestEffort", hogPod.Status.QOSClass)
	}
	tmpfs := filepath.Join(y.rootDir, "pods", string(hogPod.UID), "volumes", "kubernetes.io~empty-dir", "cache")

	// survivors fails the test when the Guaranteed or Burstable pod has
	// ended (evicted, or anything else terminal). Another phase is only
	// noted: a runtime the agent briefly cannot reach shows as Unknown, and
	// that is not what this test is about; the end of the window checks
	// Running.
	noted := map[string]bool{}
	survivors := func(when string) {
		t.Helper()
		for _, name := range []string{guaranteed, burstable} {
			p := get(name)
			switch p.Status.Phase {
			case v1.PodRunning:
			case v1.PodFailed, v1.PodSucceeded:
				t.Fatalf("%s is %s (%s: %s) %s, %v after the hog's eviction; allocatableMemory.available %s (threshold %s); "+
					"the hog's memory emptyDir %s still mounted: %v\n%s",
					name, p.Status.Phase, p.Status.Reason, p.Status.Message, when, time.Since(evictedAt).Round(time.Second),
					mib(available()), mib(threshold), tmpfs, mounted(t, tmpfs), y.logTail(30))
			default:
				if !noted[name+string(p.Status.Phase)] {
					noted[name+string(p.Status.Phase)] = true
					t.Logf("%s is %s %v after the hog's eviction", name, p.Status.Phase, time.Since(evictedAt).Round(time.Second))
				}
			}
		}
	}

	// The hog's memory comes back: its containers, pod cgroup and tmpfs go.
	deadline := evictedAt.Add(45 * time.Second)
	for available() < threshold {
		survivors("while the hog's memory was not yet given back")
		if time.Now().After(deadline) {
			t.Fatalf("allocatableMemory.available still %s (threshold %s) 45s after the hog's eviction; the hog's memory emptyDir %s still mounted: %v\n%s",
				mib(available()), mib(threshold), tmpfs, mounted(t, tmpfs), y.logTail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("allocatableMemory.available back to %s %v after the hog's eviction", mib(available()), time.Since(evictedAt).Round(100*time.Millisecond))
	if mounted(t, tmpfs) {
		t.Errorf("the evicted hog's memory emptyDir %s is still mounted", tmpfs)
	}

	// A sustained window: nothing else is evicted.
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		survivors("during the window after the signal recovered")
		if a := available(); a < threshold {
			t.Fatalf("allocatableMemory.available fell to %s during the window", mib(a))
		}
		time.Sleep(time.Second)
	}
	for _, name := range []string{guaranteed, burstable} {
		if p := get(name); p.Status.Phase != v1.PodRunning {
			t.Errorf("%s is %s (%s) at the end of the window, want Running", name, p.Status.Phase, p.Status.Reason)
		}
	}
	out, _, _ := y.cli(context.Background(), "get", "node", root+"-node", "-o", "jsonpath={.status.conditions[?(@.type==\"MemoryPressure\")].status}")
	if strings.TrimSpace(out) != "False" {
		t.Errorf("node MemoryPressure = %q %v after the signal recovered, want False (transition period %v)", out, window, transition)
	}
}

// mounted reports whether dir is a mount point in this mount namespace
// (the daemon's: the e2e daemons share it).
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// ID parentID major:minor root mountpoint ...
		if fields := strings.Fields(s.Text()); len(fields) > 4 && fields[4] == dir {
			return true
		}
	}
	return false
}
