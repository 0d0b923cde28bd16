package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// run runs the CLI and fails the test if it exits non-zero.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := e2e(t).cli(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// apply writes manifest to a file and runs `miniagent apply -f` on it. The
// pod is deleted when the test ends; its statuses are checked until then.
func apply(t *testing.T, manifest string) {
	t.Helper()
	x := e2e(t)
	file := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range podNames(manifest) {
		claimPod(t, name)
	}
	if _, _, err := x.cli(context.Background(), "apply", "-f", file); err != nil {
		t.Fatal(err)
	}
	for _, name := range podNames(manifest) {
		t.Cleanup(func() { deletePodQuietly(x, name) })
	}
}

// applyExpectError runs `miniagent apply -f file` and fails the test unless
// it exits non-zero. It returns stdout and stderr together.
func applyExpectError(t *testing.T, file string) string {
	t.Helper()
	x := e2e(t)
	if data, err := os.ReadFile(file); err == nil {
		for _, name := range podNames(string(data)) {
			claimPod(t, name) // a pod it creates anyway is checked too
		}
	}
	stdout, stderr, err := x.cli(context.Background(), "apply", "-f", file)
	if err == nil {
		t.Fatalf("apply -f %s succeeded, want an error\nstdout: %s\nstderr: %s", file, stdout, stderr)
	}
	return stdout + stderr
}

// podNames finds the metadata.name lines of a manifest (top-level pods only).
func podNames(manifest string) []string {
	var names []string
	inMeta := false
	for _, line := range strings.Split(manifest, "\n") {
		switch {
		case line == "metadata:":
			inMeta = true
		case inMeta && strings.HasPrefix(line, "  name:"):
			names = append(names, strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "  name:")), `"'`))
			inMeta = false
		case len(line) > 0 && line[0] != ' ':
			inMeta = false
		}
	}
	return names
}

// tryGetPod returns the pod in namespace default via `get pods NAME -o json`.
func tryGetPod(x *harness, name string) (*v1.Pod, string, error) {
	out, _, err := x.cli(context.Background(), "get", "pods", name, "-o", "json")
	if err != nil {
		return nil, "", err
	}
	pod := &v1.Pod{}
	if err := json.Unmarshal([]byte(out), pod); err != nil {
		return nil, out, fmt.Errorf("decode `get pods %s -o json`: %w\n%s", name, err, out)
	}
	if x == h && checks != nil {
		checks.observeGet(pod)
	}
	return pod, out, nil
}

// getPod returns the pod or fails the test.
func getPod(t *testing.T, name string) *v1.Pod {
	t.Helper()
	pod, _, err := tryGetPod(e2e(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// waitPod polls the pod every 150 ms until cond holds, and returns it. On
// timeout it fails the test with the last pod JSON seen.
func waitPod(t *testing.T, name string, timeout time.Duration, what string, cond func(*v1.Pod) bool) *v1.Pod {
	t.Helper()
	x := e2e(t)
	deadline := time.Now().Add(timeout)
	var last string
	var lastErr error
	for {
		pod, out, err := tryGetPod(x, name)
		if err == nil {
			last, lastErr = out, nil
			if cond(pod) {
				return pod
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: not %s after %v\nlast error: %v\nlast pod:\n%s\n%s", name, what, timeout, lastErr, last, x.logTail(30))
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// waitPodGone polls until `get pods NAME` reports the pod not found.
func waitPodGone(t *testing.T, name string, timeout time.Duration) {
	t.Helper()
	x := e2e(t)
	deadline := time.Now().Add(timeout)
	for {
		_, out, err := tryGetPod(x, name)
		if err != nil && strings.Contains(strings.ToLower(err.Error()), "not found") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s still there after %v (err %v)\n%s", name, timeout, err, out)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// deletePod deletes the pod and waits until everything is removed.
func deletePod(t *testing.T, name string, gracePeriod int) {
	t.Helper()
	run(t, "delete", "pod", name, "--grace-period", fmt.Sprint(gracePeriod), "--wait=true")
}

func deletePodQuietly(x *harness, name string) {
	_, _, _ = x.cli(context.Background(), "delete", "pod", name, "--grace-period", "0", "--wait=true")
}

// logs returns `miniagent logs` output for one container.
func logs(t *testing.T, pod, container string, extra ...string) string {
	t.Helper()
	return run(t, append([]string{"logs", pod, "-c", container}, extra...)...)
}

func containerStatus(pod *v1.Pod, name string) *v1.ContainerStatus {
	for _, list := range [][]v1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func condition(pod *v1.Pod, typ v1.PodConditionType) *v1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == typ {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// running reports whether the pod runs and every container has a running state.
func running(pod *v1.Pod) bool {
	if pod.Status.Phase != v1.PodRunning || len(pod.Status.ContainerStatuses) != len(pod.Spec.Containers) {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

func phaseIs(p v1.PodPhase) func(*v1.Pod) bool {
	return func(pod *v1.Pod) bool { return pod.Status.Phase == p }
}

// checkCondition fails the test unless the pod has condition typ with status
// (and reason, if reason is not "").
func checkCondition(t *testing.T, pod *v1.Pod, typ v1.PodConditionType, status v1.ConditionStatus, reason string) {
	t.Helper()
	c := condition(pod, typ)
	switch {
	case c == nil:
		t.Errorf("condition %s missing; conditions: %+v", typ, pod.Status.Conditions)
	case c.Status != status:
		t.Errorf("condition %s = %s (reason %q), want %s", typ, c.Status, c.Reason, status)
	case reason != "" && c.Reason != reason:
		t.Errorf("condition %s reason = %q, want %q", typ, c.Reason, reason)
	}
}

// podYAML makes a one-container busybox pod manifest.
func podYAML(name, restartPolicy, script string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: %s
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
`, name, restartPolicy, script)
}

// foreverScript runs until SIGTERM, then exits 0 at once.
const foreverScript = `trap 'exit 0' TERM; while true; do sleep 1; done`
