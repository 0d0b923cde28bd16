package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

var retagOnce sync.Once

// importBusyboxAs imports the test's busybox image a second time, named
// docker.io/library/busybox:TAG (the archive's index.json renamed), into
// the run's containerd namespace through `miniagent image import`.
func importBusyboxAs(t *testing.T, x *harness, tag string) {
	t.Helper()
	var err error
	retagOnce.Do(func() {
		in, e := os.Open(filepath.Join(x.dir, "busybox.tar"))
		if e != nil {
			err = e
			return
		}
		defer in.Close()
		var out bytes.Buffer
		tr, tw := tar.NewReader(in), tar.NewWriter(&out)
		for {
			h, e := tr.Next()
			if e == io.EOF {
				break
			}
			if e != nil {
				err = e
				return
			}
			data, e := io.ReadAll(tr)
			if e != nil {
				err = e
				return
			}
			if h.Name == "index.json" {
				s := strings.ReplaceAll(string(data), "docker.io/library/busybox:latest", "docker.io/library/busybox:"+tag)
				data = []byte(strings.ReplaceAll(s, `"org.opencontainers.image.ref.name":"latest"`, `"org.opencontainers.image.ref.name":"`+tag+`"`))
				h.Size = int64(len(data))
			}
			if e := tw.WriteHeader(h); e != nil {
				err = e
				return
			}
			if _, e := tw.Write(data); e != nil {
				err = e
				return
			}
		}
		if err = tw.Close(); err != nil {
			return
		}
		file := filepath.Join(x.dir, "busybox-"+tag+".tar")
		if err = os.WriteFile(file, out.Bytes(), 0o644); err != nil {
			return
		}
		o, e := exec.Command(x.bin, "image", "import", file, "--containerd-address", x.containerdAdr, "--containerd-namespace", testNamespace).CombinedOutput()
		if e != nil {
			err = e
			t.Logf("image import: %s", o)
		}
	})
	if err != nil {
		t.Fatalf("import busybox as :%s: %v", tag, err)
	}
}

// TestInPlaceImageUpdate: re-applying a pod with one container's image
// changed keeps the pod (same UID) and restarts only that container, as
// kubelet does (restartCount 1, the other 0); a change the API server
// forbids is refused with its message; apply --force re-creates the pod.
func TestInPlaceImageUpdate(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	importBusyboxAs(t, x, "v2")
	manifest := func(imageB, cmdA string) string {
		return `apiVersion: v1
kind: Pod
metadata:
  name: update-a
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: a
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "` + cmdA + `"]
  - name: b
    image: ` + imageB + `
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
`
	}
	forever := `trap 'exit 0' TERM; while true; do sleep 1; done`
	apply(t, manifest("busybox", forever))
	run(t, "wait", "--for=condition=Ready", "pod/update-a", "--timeout=60s")
	before := getPod(t, "update-a")

	file := filepath.Join(t.TempDir(), "pod.yaml")
	os.WriteFile(file, []byte(manifest("busybox:v2", forever)), 0o644)
	if out := run(t, "apply", "-f", file); out != "pod/update-a configured\n" {
		t.Errorf("apply: %q", out)
	}
	p := waitPod(t, "update-a", 60*time.Second, "b restarted with busybox:v2", func(p *v1.Pod) bool {
		cs := containerStatus(p, "b")
		return cs != nil && cs.RestartCount == 1 && cs.State.Running != nil && strings.HasSuffix(cs.Image, "busybox:v2")
	})
	if p.UID != before.UID {
		t.Errorf("UID %s, was %s: the pod was replaced", p.UID, before.UID)
	}
	if a := containerStatus(p, "a"); a == nil || a.RestartCount != 0 || a.ContainerID != containerStatus(before, "a").ContainerID {
		t.Errorf("container a was restarted: %+v", a)
	}
	if b := containerStatus(p, "b"); b.LastTerminationState.Terminated == nil {
		t.Errorf("b has no last state: %+v", b)
	}
	out := run(t, "get", "pods", "update-a", "-o", "custom-columns=RESTARTS:.status.containerStatuses[*].restartCount,IMAGE:.spec.containers[1].image")
	if !strings.Contains(out, "0,1") || !strings.Contains(out, "busybox:v2") {
		t.Errorf("custom columns:\n%s", out)
	}

	os.WriteFile(file, []byte(manifest("busybox:v2", "sleep 1000")), 0o644)
	_, stderr, err := x.cli(context.Background(), "apply", "-f", file)
	want := "The Pod \"update-a\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
	if err == nil || !strings.HasPrefix(stderr, want) || !strings.Contains(stderr, `+    "sleep 1000"`) {
		t.Errorf("forbidden change: err %v\nstderr %s", err, stderr)
	}
	if getPod(t, "update-a").UID != before.UID {
		t.Error("a refused change replaced the pod")
	}
	if out := run(t, "apply", "-f", file, "--force"); out != "pod/update-a configured\n" {
		t.Errorf("apply --force: %q", out)
	}
	waitPod(t, "update-a", 60*time.Second, "re-created", func(p *v1.Pod) bool {
		return p.UID != before.UID && running(p)
	})
}

// TestLabelPod: label and annotate a running pod; the change shows at
// once, through the same pod (no restart), and selectors see it.
func TestLabelPod(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, podYAML("label-a", "Always", foreverScript))
	run(t, "wait", "--for=condition=Ready", "pod/label-a", "--timeout=60s")
	before := getPod(t, "label-a")
	if out := run(t, "label", "pod", "label-a", "tier=front"); out != "pod/label-a labeled\n" {
		t.Errorf("label: %q", out)
	}
	if out := run(t, "annotate", "pod", "label-a", "note=hello world"); out != "pod/label-a annotated\n" {
		t.Errorf("annotate: %q", out)
	}
	if out := run(t, "get", "pods", "-l", "tier=front", "-L", "tier", "--no-headers"); !strings.HasPrefix(out, "label-a ") || !strings.HasSuffix(out, "front\n") {
		t.Errorf("get -l tier=front -L tier: %q", out)
	}
	p := getPod(t, "label-a")
	if p.UID != before.UID || p.Annotations["note"] != "hello world" || containerStatus(p, "main").RestartCount != 0 ||
		containerStatus(p, "main").ContainerID != containerStatus(before, "main").ContainerID {
		t.Errorf("after label/annotate: uid %s (was %s), annotations %v, status %+v", p.UID, before.UID, p.Annotations, containerStatus(p, "main"))
	}
	if out := run(t, "label", "pod", "label-a", "tier-"); out != "pod/label-a unlabeled\n" {
		t.Errorf("unlabel: %q", out)
	}
	waitPod(t, "label-a", 10*time.Second, "label gone", func(p *v1.Pod) bool { return p.Labels["tier"] == "" })
}
