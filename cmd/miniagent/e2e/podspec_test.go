package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestPodSpecFeatures: what a container sees of its pod spec, read back
// from its own output: $(VAR) expansion and fieldRef env, user and group,
// working directory, hostname, shared emptyDirs (one on tmpfs), hostPath
// with DirectoryOrCreate, and the pod's shared loopback-only network.
func TestPodSpecFeatures(t *testing.T) {
	e2e(t)
	t.Parallel()
	host := filepath.Join(t.TempDir(), "created-by-agent")
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: spec-features
  labels:
    app: spec
spec:
  restartPolicy: Never
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
  volumes:
  - name: shared
    emptyDir: {}
  - name: mem
    emptyDir: {medium: Memory}
  - name: host
    hostPath:
      path: `+host+`
      type: DirectoryOrCreate
  initContainers:
  - name: writer
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo from-init > /shared/note"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    workingDir: /shared
    env:
    - name: GREETING
      value: hello
    - name: MESSAGE
      value: "$(GREETING) from $(POD_NAME), $$(GREETING) kept, $(UNSET) left"
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
    command: ["sh", "-c"]
    args:
    - |
      echo "msg=$MESSAGE"
      echo "arg=$(GREETING)"
      echo "app=$APP"
      echo "id=$(id -u):$(id -g)"
      echo "pwd=$(pwd)"
      echo "host=$(hostname)"
      echo "note=$(cat note)"
      echo "memfs=$(awk '$2=="/mem"{print $3}' /proc/mounts)"
      echo "ifaces=$(ls /sys/class/net | tr '\n' ' ')"
      echo "lo=$(cat /sys/class/net/lo/operstate)"
    volumeMounts:
    - {name: shared, mountPath: /shared}
    - {name: mem, mountPath: /mem}
    - {name: host, mountPath: /host}
`)
	waitPod(t, "spec-features", 60*time.Second, "Succeeded", phaseIs(v1.PodSucceeded))
	out := logs(t, "spec-features", "main")
	for _, want := range []string{
		// POD_NAME is defined after MESSAGE, so it is not expanded (as in Kubernetes).
		"msg=hello from $(POD_NAME), $(GREETING) kept, $(UNSET) left",
		"arg=hello",
		"app=spec",
		"id=1000:3000",
		"pwd=/shared",
		"host=spec-features",
		"note=from-init",
		"memfs=tmpfs",
		"ifaces=lo \n",
		"lo=unknown", // loopback reports "unknown" when up
	} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
	if fi, err := os.Stat(host); err != nil || !fi.IsDir() {
		t.Errorf("hostPath DirectoryOrCreate did not create %s: %v", host, err)
	}
}

// TestHostPathTypeCheck: a hostPath whose type check fails keeps the
// container from being created, with the reason in its waiting state.
func TestHostPathTypeCheck(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: spec-hostpath-bad
spec:
  volumes:
  - name: host
    hostPath:
      path: /miniagent-e2e-does-not-exist
      type: Directory
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    volumeMounts: [{name: host, mountPath: /host}]
`)
	p := waitPod(t, "spec-hostpath-bad", 30*time.Second, "waiting with a config error", func(p *v1.Pod) bool {
		cs := containerStatus(p, "main")
		return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CreateContainerConfigError"
	})
	if msg := containerStatus(p, "main").State.Waiting.Message; !strings.Contains(msg, "is not a directory") {
		t.Errorf("message = %q", msg)
	}
	if p.Status.Phase != v1.PodPending {
		t.Errorf("phase = %s", p.Status.Phase)
	}
}

// TestRestartGetsFreshWritableLayer: each restart is a new container with
// a new writable layer, as in Kubernetes: a file the previous instance
// wrote into its root filesystem is gone.
func TestRestartGetsFreshWritableLayer(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, podYAML("spec-fresh-layer", "OnFailure",
		`if [ -e /marker ]; then echo stale; exit 0; fi; touch /marker; echo fresh; sleep 1; exit 1`))
	waitPod(t, "spec-fresh-layer", 60*time.Second, "a second instance that has written its output", func(p *v1.Pod) bool {
		cs := containerStatus(p, "main")
		return cs != nil && cs.RestartCount >= 1 && (cs.State.Running != nil || cs.State.Terminated != nil)
	})
	time.Sleep(300 * time.Millisecond)
	if out := logs(t, "spec-fresh-layer", "main"); !strings.Contains(out, "fresh") || strings.Contains(out, "stale") {
		t.Fatalf("the restarted instance saw the previous instance's file: %q", out)
	}
	if p := getPod(t, "spec-fresh-layer"); p.Status.Phase == v1.PodSucceeded {
		t.Fatal("pod succeeded: a restart reused the writable layer")
	}
}
