package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestFinishedPodReleasesResources: a pod that finished stays listed, with
// its logs, but holds nothing on the node any more, as kubelet's
// syncTerminatedPod sees to: no tmpfs of its memory emptyDir, no
// network/IPC namespace mount, no shim, no containerd task, no pod cgroup.
// Kubelet reports the terminal phase only after the containers stopped and
// releases the rest right after, so a short wait is allowed.
func TestFinishedPodReleasesResources(t *testing.T) {
	e2e(t)
	t.Parallel()
	for _, tc := range []struct {
		name  string
		exit  string
		phase v1.PodPhase
	}{
		{"e2e-release-succeeded", "", v1.PodSucceeded},
		{"e2e-release-failed", "; exit 1", v1.PodFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			finishedPodReleases(t, tc.name, tc.exit, tc.phase)
		})
	}
	t.Run("e2e-release-rejected", func(t *testing.T) {
		t.Parallel()
		rejectedPodHoldsNothing(t, "e2e-release-rejected")
	})
}

// releaseWait bounds how long a finished pod may keep what it held.
const releaseWait = 15 * time.Second

func finishedPodReleases(t *testing.T, name, exit string, phase v1.PodPhase) {
	x := e2e(t)
	// The container waits for the test's go-ahead, so what the pod holds
	// while it runs can be seen first: that makes the checks after it
	// finished meaningful.
	script := "while [ ! -e /cache/go ]; do sleep 0.1; done; dd if=/dev/zero of=/cache/f bs=1M count=50; echo done" + exit
	apply(t, fmt.Sprintf(`apiVersion: v1
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
    volumeMounts:
    - name: cache
      mountPath: /cache
  volumes:
  - name: cache
    emptyDir:
      medium: Memory
`, name, script))
	pod := waitPod(t, name, 60*time.Second, "running", running)
	id := strings.TrimPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://")
	uid := string(pod.UID)
	held := func() []string { return holdings(x, uid, []string{id}) }
	// While it runs it holds all of it.
	want := []string{"tmpfs", "network namespace", "ipc namespace", "process", "task", "cgroup"}
	deadline := time.Now().Add(5 * time.Second)
	for now := held(); !hasAll(now, want); now = held() {
		if time.Now().After(deadline) {
			t.Fatalf("while the pod runs, want it to hold %v; found:\n  %s", want, strings.Join(now, "\n  "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	volume := filepath.Join(x.rootDir, "pods", uid, "volumes", "kubernetes.io~empty-dir", "cache")
	if err := os.WriteFile(filepath.Join(volume, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	done := waitPod(t, name, 60*time.Second, string(phase), phaseIs(phase))
	finished := time.Now()
	left := held()
	for len(left) > 0 && time.Since(finished) < releaseWait {
		time.Sleep(200 * time.Millisecond)
		left = held()
	}
	for _, what := range left {
		t.Errorf("%s pod still holds, %v after it finished: %s", phase, releaseWait, what)
	}

	// It stays listed, and what a user looks at still works.
	if p := getPod(t, name); p.Status.Phase != phase || p.UID != done.UID {
		t.Errorf("get pod: phase %s uid %s, want %s %s", p.Status.Phase, p.UID, phase, done.UID)
	}
	if out := run(t, "describe", "pod", name); !strings.Contains(out, string(phase)) || !strings.Contains(out, name) {
		t.Errorf("describe pod does not show %s:\n%s", phase, out)
	}
	if out := logs(t, name, "main"); !strings.Contains(out, "done") {
		t.Errorf("logs = %q, want done", out)
	}
	_, stderr, err := x.cli(context.Background(), "logs", name, "-c", "main", "--previous")
	if want := fmt.Sprintf("previous terminated container %q in pod %q not found", "main", name); err == nil || !strings.Contains(stderr, want) {
		t.Errorf("logs --previous: err %v, stderr %q; want kubelet's %q", err, stderr, want)
	}
}

func rejectedPodHoldsNothing(t *testing.T, name string) {
	x := e2e(t)
	var node v1.Node
	if err := json.Unmarshal([]byte(run(t, "get", "node", nodeName, "-o", "json")), &node); err != nil {
		t.Fatal(err)
	}
	mem := node.Status.Allocatable[v1.ResourceMemory]
	apply(t, admPod(name, "", "", fmt.Sprintf("resources:\n  requests:\n    memory: %d", mem.Value()+1<<30)))
	pod := waitPod(t, name, 30*time.Second, "rejected", phaseIs(v1.PodFailed))
	if pod.Status.Reason != "OutOfmemory" {
		t.Fatalf("reason %q, want OutOfmemory", pod.Status.Reason)
	}
	insts, err := x.podInstances(string(pod.UID))
	if err != nil || len(insts) > 0 {
		t.Errorf("containerd holds %d containers of the rejected pod (err %v)", len(insts), err)
	}
	for _, what := range holdings(x, string(pod.UID), nil) {
		t.Errorf("rejected pod holds %s", what)
	}
	if out := run(t, "describe", "pod", name); !strings.Contains(out, "OutOfmemory") {
		t.Errorf("describe pod does not show the rejection:\n%s", out)
	}
}

// holdings lists, one line each, what the pod uid and its container IDs
// still hold on the node; each line starts with the kind of thing.
func holdings(x *harness, uid string, ids []string) []string {
	var out []string
	mounts, _ := mountPoints()
	for _, m := range mounts {
		switch {
		case strings.HasPrefix(m, filepath.Join(x.rootDir, "pods", uid)+"/"):
			out = append(out, "tmpfs (or another mount) at "+m)
		case strings.HasPrefix(m, filepath.Join(x.rootDir, "ns", uid)+"/"):
			kind := filepath.Base(m)
			if kind == "net" {
				kind = "network"
			}
			out = append(out, kind+" namespace mounted at "+m)
		}
	}
	for _, p := range processesNaming(ids) {
		out = append(out, "process "+p)
	}
	if tasks, err := exec.Command("ctr", "--address", x.containerdAdr, "-n", testNamespace, "tasks", "ls").Output(); err == nil {
		for _, line := range strings.Split(string(tasks), "\n") {
			for _, id := range ids {
				if strings.HasPrefix(line, id+" ") {
					out = append(out, "task "+strings.Join(strings.Fields(line), " "))
				}
			}
		}
	} else {
		out = append(out, fmt.Sprintf("unknown tasks: ctr tasks ls: %v", err))
	}
	for _, d := range cgroupDirsContaining(uid) {
		out = append(out, "cgroup "+d)
	}
	return out
}

// processesNaming returns "pid: cmdline" of the processes whose command
// line names one of ids (the shim, the log process).
func processesNaming(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		for _, id := range ids {
			if id != "" && strings.Contains(cmd, id) {
				out = append(out, e.Name()+": "+cmd)
			}
		}
	}
	return out
}

func hasAll(lines, kinds []string) bool {
	for _, k := range kinds {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, k)
		}
		if !found {
			return false
		}
	}
	return true
}
