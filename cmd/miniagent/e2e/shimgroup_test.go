package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestPodSharesOneShim: the three containers of a pod run under a single
// runc v2 shim. Crashing the first container (the one whose task started
// the shim, in whose bundle directory the shim runs) restarts it under the
// same shim and leaves the other two running, not restarted; deleting the
// pod ends the shim.
func TestPodSharesOneShim(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	const name = "e2e-shim-group"
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 1
  containers:
  - {name: a, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", %q]}
  - {name: b, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", %q]}
  - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", %q]}
`, name, foreverScript, foreverScript, foreverScript))
	pod := waitPod(t, name, 60*time.Second, "all three running", running)
	ids := map[string]string{}
	for _, cs := range pod.Status.ContainerStatuses {
		ids[cs.Name] = strings.TrimPrefix(cs.ContainerID, "containerd://")
	}
	shims := shimsOf(t, x, ids)
	if len(shims) != 1 {
		t.Fatalf("the pod's containers run under %d shims, want 1: %v", len(shims), shims)
	}
	var shim int
	for s := range shims {
		shim = s
	}
	if argv := cmdline(shim); !strings.Contains(argv, "containerd-shim-runc-v2") || !strings.Contains(argv, "-namespace "+testNamespace) {
		t.Fatalf("parent %d of the tasks is no runc v2 shim of %s: %q", shim, testNamespace, argv)
	}

	// The first container's task started the shim; kill its process.
	first := firstStarted(t, x, ids)
	pids := taskPIDs(t, x)
	if err := syscall.Kill(pids[ids[first]], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pod = waitPod(t, name, 60*time.Second, first+" restarted and running", func(p *v1.Pod) bool {
		cs := containerStatus(p, first)
		return running(p) && cs != nil && cs.RestartCount == 1
	})
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == first {
			ids[cs.Name] = strings.TrimPrefix(cs.ContainerID, "containerd://")
			continue
		}
		if cs.RestartCount != 0 || cs.State.Running == nil || strings.TrimPrefix(cs.ContainerID, "containerd://") != ids[cs.Name] {
			t.Errorf("container %s was disturbed by %s's restart: restartCount %d, state %+v, id %s (was %s)",
				cs.Name, first, cs.RestartCount, cs.State, cs.ContainerID, ids[cs.Name])
		}
	}
	if got := shimsOf(t, x, ids); len(got) != 1 || got[shim] == nil {
		t.Fatalf("after the restart the pod's containers run under %v, want only the shim %d", got, shim)
	}
	// The shim still serves the others: their logs and statuses go through it.
	if out := logs(t, name, "b"); out != "" {
		t.Logf("logs of b: %q", out)
	}

	deletePod(t, name, 1)
	waitPodGone(t, name, 60*time.Second)
	deadline := time.Now().Add(releaseWait)
	for syscall.Kill(shim, 0) == nil && !isZombiePID(shim) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if syscall.Kill(shim, 0) == nil && !isZombiePID(shim) {
		t.Errorf("the pod's shim %d still runs after the pod was deleted: %s", shim, cmdline(shim))
	}
	var all []string
	for _, id := range ids {
		all = append(all, id)
	}
	if left := processesNaming(all); len(left) > 0 {
		t.Errorf("processes of the deleted pod left: %v", left)
	}
}

// shimsOf maps the parent process of each container's task (its shim) to
// the containers it serves.
func shimsOf(t *testing.T, x *harness, ids map[string]string) map[int][]string {
	t.Helper()
	pids := taskPIDs(t, x)
	out := map[int][]string{}
	for name, id := range ids {
		pid, ok := pids[id]
		if !ok {
			t.Fatalf("no task of container %s (%s): %v", name, id, pids)
		}
		out[ppidOf(pid)] = append(out[ppidOf(pid)], name)
	}
	return out
}

// taskPIDs maps task IDs of the test namespace to their init's pid.
func taskPIDs(t *testing.T, x *harness) map[string]int {
	t.Helper()
	raw, err := exec.Command("ctr", "--address", x.containerdAdr, "-n", testNamespace, "tasks", "ls").Output()
	if err != nil {
		t.Fatalf("ctr tasks ls: %v", err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == "RUNNING" {
			out[f[0]], _ = strconv.Atoi(f[1])
		}
	}
	return out
}

// firstStarted is the container whose task is the shim's -id: the one that
// started it.
func firstStarted(t *testing.T, x *harness, ids map[string]string) string {
	t.Helper()
	shims := shimsOf(t, x, ids)
	for s := range shims {
		argv := cmdline(s)
		for name, id := range ids {
			if strings.Contains(argv, "-id "+id) {
				return name
			}
		}
		t.Fatalf("the shim's command line names none of the containers: %q", argv)
	}
	names := make([]string, 0, len(ids))
	for n := range ids {
		names = append(names, n)
	}
	sort.Strings(names)
	return names[0]
}

func ppidOf(pid int) int {
	for _, p := range processes() {
		if p.pid == pid {
			return p.ppid
		}
	}
	return 0
}

func cmdline(pid int) string {
	for _, p := range processes() {
		if p.pid == pid {
			return strings.Join(p.argv, " ")
		}
	}
	return ""
}

func isZombiePID(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(raw), ')')
	return i > 0 && i+2 < len(raw) && raw[i+2] == 'Z'
}

// TestOOMKillUnderSharedShim: with both containers of a pod under one
// shim, an OOM kill of one is reported as OOMKilled for it alone (the shim
// watches each container's cgroup), and the other keeps running.
func TestOOMKillUnderSharedShim(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	const name = "e2e-shim-group-oom"
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 1
  containers:
  - {name: quiet, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", %q]}
  - name: hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
    resources:
      limits: {memory: 32Mi}
`, name, foreverScript, hogScript))
	pod := waitPod(t, name, 90*time.Second, "hog restarted after an OOM kill", func(p *v1.Pod) bool {
		cs := containerStatus(p, "hog")
		return cs != nil && cs.RestartCount >= 1 && terminatedOOM(cs) != nil
	})
	quiet := containerStatus(pod, "quiet")
	if quiet == nil || quiet.RestartCount != 0 || quiet.State.Running == nil || quiet.LastTerminationState.Terminated != nil {
		t.Errorf("quiet container disturbed by its neighbour's OOM kill: %+v", quiet)
	}
	// Both run under one shim: the quiet one's and the hog's current
	// task, if it runs just now, have the same parent.
	pids := taskPIDs(t, x)
	qpid, ok := pids[strings.TrimPrefix(quiet.ContainerID, "containerd://")]
	if !ok {
		t.Fatalf("no running task of the quiet container: %v", pids)
	}
	hog := containerStatus(pod, "hog")
	// The hog may be OOM-killed again between the task list and the read of
	// its parent (0: the process is gone); only a live one is compared.
	if hpid, ok := pids[strings.TrimPrefix(hog.ContainerID, "containerd://")]; ok {
		if hp := ppidOf(hpid); hp != 0 && hp != ppidOf(qpid) {
			t.Errorf("hog under shim %d, quiet under shim %d", hp, ppidOf(qpid))
		}
	}
}
