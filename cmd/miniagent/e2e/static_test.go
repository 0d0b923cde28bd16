package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// writeManifest puts a file into the daemon's manifest directory atomically
// (a hidden temporary file, which the kubelet's file source ignores, then a
// rename).
func writeManifest(t *testing.T, x *harness, file, content string) {
	t.Helper()
	for _, name := range podNames(content) {
		claimPod(t, name+"-"+nodeName) // static pods are named <name>-<node>
	}
	tmp := filepath.Join(x.manifestDir, "."+file+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(x.manifestDir, file)); err != nil {
		t.Fatal(err)
	}
}

// TestStaticPods adds, changes and removes a file in --pod-manifest-path.
func TestStaticPods(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	const file = "static-web.yaml"
	podName := "static-web-" + nodeName
	manifest := func(version string) string {
		return `apiVersion: v1
kind: Pod
metadata:
  name: static-web
  labels:
    version: ` + version + `
spec:
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo version ` + version + `; ` + foreverScript + `"]
`
	}
	t.Cleanup(func() { _ = os.Remove(filepath.Join(x.manifestDir, file)) })

	// Add.
	writeManifest(t, x, file, manifest("v1"))
	first := waitPod(t, podName, 60*time.Second, "running from the manifest directory", running)
	if first.Labels["version"] != "v1" {
		t.Errorf("labels %v, want version=v1", first.Labels)
	}
	if first.Spec.NodeName != nodeName {
		t.Errorf("spec.nodeName %q, want %q", first.Spec.NodeName, nodeName)
	}
	if got := strings.TrimSpace(logs(t, podName, "web")); got != "version v1" {
		t.Errorf("logs = %q, want %q", got, "version v1")
	}
	firstID := containerStatus(first, "web").ContainerID

	// The same content again (touch) must not restart the pod.
	writeManifest(t, x, file, manifest("v1"))
	time.Sleep(2 * time.Second)
	if p := getPod(t, podName); p.UID != first.UID || containerStatus(p, "web").ContainerID != firstID {
		t.Errorf("rewriting the same manifest restarted the pod (uid %s→%s)", first.UID, p.UID)
	}

	// Change: a new pod (kubelet: new UID from the new content) with the new spec.
	writeManifest(t, x, file, manifest("v2"))
	second := waitPod(t, podName, 60*time.Second, "running with the changed manifest", func(p *v1.Pod) bool {
		return p.Labels["version"] == "v2" && running(p) && containerStatus(p, "web").ContainerID != firstID
	})
	if second.UID == first.UID {
		t.Errorf("changed manifest kept UID %s; static pod UIDs derive from the content", first.UID)
	}
	if got := strings.TrimSpace(logs(t, podName, "web")); got != "version v2" {
		t.Errorf("logs = %q, want %q", got, "version v2")
	}
	if insts, err := x.podInstances(string(first.UID)); err != nil || len(insts) != 0 {
		t.Errorf("%d containers of the old version left (err %v)", len(insts), err)
	}

	// Remove.
	if err := os.Remove(filepath.Join(x.manifestDir, file)); err != nil {
		t.Fatal(err)
	}
	waitPodGone(t, podName, 60*time.Second)
	deadline := time.Now().Add(15 * time.Second)
	for {
		insts, err := x.podInstances(string(second.UID))
		if err == nil && len(insts) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d containers left 15s after the manifest was removed (err %v)", len(insts), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBadManifests applies every file of testdata/bad. Each file's first line
// is "# want: <substring>": apply must fail naming it, and create nothing.
func TestBadManifests(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/bad/*.yaml (err %v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok || strings.TrimSpace(want) == "" {
				t.Fatalf("first line %q is not `# want: <substring>`", first)
			}
			out := applyExpectError(t, file)
			if !strings.Contains(out, strings.TrimSpace(want)) {
				t.Errorf("apply output does not contain %q:\n%s", want, out)
			}
			for _, p := range listPods(t, x) {
				if strings.HasPrefix(strings.ToLower(p.Name), "bad-") {
					t.Errorf("pod %s/%s exists after a rejected apply", p.Namespace, p.Name)
				}
			}
		})
	}
}

// listPods returns every pod via `get pods -A -o json`.
func listPods(t *testing.T, x *harness) []v1.Pod {
	t.Helper()
	out, _, err := x.cli(context.Background(), "get", "pods", "-A", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list v1.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decode `get pods -A -o json`: %v\n%s", err, out)
	}
	return list.Items
}
