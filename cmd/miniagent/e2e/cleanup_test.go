package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestDeleteLeavesNothing deletes a running two-container pod and checks that
// containerd holds no container or snapshot of it, that no cgroup directory of
// the pod is left in any hierarchy, and that its network namespace is no
// longer mounted.
func TestDeleteLeavesNothing(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	const name = "e2e-delete"
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: e2e-delete
spec:
  containers:
  - name: a
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "`+foreverScript+`"]
    resources:
      requests: {memory: 16Mi, cpu: 10m}
      limits: {memory: 32Mi}
  - name: b
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "`+foreverScript+`"]
`)
	pod := waitPod(t, name, 60*time.Second, "running", running)
	uid := string(pod.UID)
	if uid == "" {
		t.Fatal("pod has no UID")
	}
	if pod.Status.QOSClass != v1.PodQOSBurstable {
		t.Errorf("qosClass %q, want Burstable", pod.Status.QOSClass)
	}

	// What exists while it runs: this makes the checks after the deletion
	// meaningful.
	insts, err := x.podInstances(uid)
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 2 {
		t.Fatalf("%d containerd containers labelled with pod UID %s, want 2: %+v", len(insts), uid, insts)
	}
	netns := insts[0].NetNSPath
	if netns == "" || !isMounted(netns) {
		t.Fatalf("pod network namespace %q is not a mount point", netns)
	}
	var podCgroups []string
	for _, in := range insts {
		if in.NetNSPath != netns {
			t.Errorf("containers of one pod in different network namespaces: %q and %q", in.NetNSPath, netns)
		}
		if ok, err := x.snapshotExists(in.SnapshotKey); !ok {
			t.Fatalf("snapshot %q of container %s not found (err %v)", in.SnapshotKey, in.ID, err)
		}
		if !strings.HasPrefix(in.CgroupsPath, "/"+cgroupRoot+"/") {
			t.Errorf("container %s cgroupsPath %q is not under /%s", in.ID, in.CgroupsPath, cgroupRoot)
		}
		podCgroups = append(podCgroups, filepath.Dir(in.CgroupsPath))
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", insts[0].CgroupsPath)); err != nil {
		t.Errorf("container memory cgroup: %v", err)
	}
	if dirs := cgroupDirsContaining(uid); len(dirs) == 0 {
		t.Errorf("no cgroup directory under %s names pod UID %s", cgroupRoot, uid)
	}

	deletePod(t, name, 5)
	waitPodGone(t, name, 10*time.Second)

	if left, err := x.podInstances(uid); err != nil || len(left) != 0 {
		t.Errorf("containerd still holds %d containers of the pod (err %v): %+v", len(left), err, left)
	}
	for _, in := range insts {
		if ok, err := x.snapshotExists(in.SnapshotKey); ok || err != nil {
			t.Errorf("snapshot %q still exists (err %v)", in.SnapshotKey, err)
		}
	}
	if dirs := cgroupDirsContaining(uid); len(dirs) != 0 {
		t.Errorf("cgroup directories left: %v", dirs)
	}
	for _, dir := range podCgroups {
		for _, h := range []string{"memory", "cpu,cpuacct", "pids", "unified"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h, dir)); err == nil {
				t.Errorf("pod cgroup %s left in hierarchy %s", dir, h)
			}
		}
	}
	if isMounted(netns) {
		t.Errorf("network namespace %s still mounted", netns)
	}
}

// TestAgentRestartKeepsPod kills the agent with SIGKILL and starts it again:
// the pod keeps running with the same container and restart count.
// It is not parallel: while the agent is down no other test could talk to it.
func TestAgentRestartKeepsPod(t *testing.T) {
	x := e2e(t)
	const name = "e2e-agent-restart"
	apply(t, podYAML(name, "Always", "echo started; "+foreverScript))
	before := waitPod(t, name, 60*time.Second, "running", running)
	csBefore := containerStatus(before, "main")

	x.restartDaemon(t)

	same := func(p *v1.Pod) bool {
		cs := containerStatus(p, "main")
		return running(p) && cs.ContainerID == csBefore.ContainerID
	}
	after := waitPod(t, name, 30*time.Second, "running with the same container", same)
	// Give a wrongly re-created or restarted container time to show up.
	time.Sleep(3 * time.Second)
	_ = waitPod(t, name, 5*time.Second, "still running with the same container", same)
	cs := containerStatus(after, "main")
	if cs.RestartCount != csBefore.RestartCount {
		t.Errorf("restartCount %d after the agent restart, was %d", cs.RestartCount, csBefore.RestartCount)
	}
	if !cs.State.Running.StartedAt.Equal(&csBefore.State.Running.StartedAt) {
		t.Errorf("startedAt %v after the agent restart, was %v", cs.State.Running.StartedAt, csBefore.State.Running.StartedAt)
	}
	if after.UID != before.UID {
		t.Errorf("pod UID %s after the agent restart, was %s", after.UID, before.UID)
	}
	if insts, err := x.podInstances(string(after.UID)); err != nil || len(insts) != 1 {
		t.Errorf("%d containerd containers for the pod after the agent restart, want 1 (err %v)", len(insts), err)
	}
	if got := strings.TrimSpace(logs(t, name, "main")); got != "started" {
		t.Errorf("logs after the agent restart = %q, want %q", got, "started")
	}
}
