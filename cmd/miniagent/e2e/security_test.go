package e2e

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestPodSecurityContext: what a container sees of the securityContexts
// and the pod's hostname: its groups (primary, fsGroup, supplementalGroups)
// in /proc/self/status, emptyDirs (on disk and on tmpfs) owned by group
// fsGroup with the setgid bit, no_new_privs, seccomp, no capabilities, a
// read-only root, a safe sysctl, and spec.hostname with a subdomain.
func TestPodSecurityContext(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: spec-security
spec:
  restartPolicy: Never
  hostname: secure-host
  subdomain: internal
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    supplementalGroups: [4000, 5000]
    sysctls: [{name: net.ipv4.ping_group_range, value: "0 2000"}]
  volumes:
  - name: data
    emptyDir: {}
  - name: mem
    emptyDir: {medium: Memory}
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
      seccompProfile: {type: RuntimeDefault}
    command: ["sh", "-c"]
    args:
    - |
      grep -E '^(Groups|NoNewPrivs|Seccomp|CapBnd):' /proc/self/status | tr -s '\t ' ' '
      echo "data=$(stat -c '%a %g' /data)"
      echo "mem=$(stat -c '%a %g' /mem)"
      touch /data/f && echo "file=$(stat -c '%u %g' /data/f)"
      touch /root-write 2>/dev/null && echo rootfs=rw || echo rootfs=ro
      echo "host=$(hostname)"
      echo "ping=$(tr -s '\t ' ' ' < /proc/sys/net/ipv4/ping_group_range)"
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: mem, mountPath: /mem}
`)
	waitPod(t, "spec-security", 60*time.Second, "Succeeded", phaseIs(v1.PodSucceeded))
	out := logs(t, "spec-security", "main")
	for _, want := range []string{
		"Groups: 2000 3000 4000 5000 \n", // the kernel sorts them; 3000 is the primary group
		"NoNewPrivs: 1\n",
		"Seccomp: 2\n",
		"CapBnd: 0000000000000000\n",
		"data=2777 2000\n",
		"mem=2777 2000\n",
		"file=1000 2000\n", // the setgid directory passes its group on
		"rootfs=ro\n",
		"host=secure-host\n",
		"ping=0 2000\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("container output lacks %q:\n%s", want, out)
		}
	}
}

// TestRunAsNonRootRefused: a container that must not run as root but whose
// image runs as root is not created; it waits with the kubelet's reason
// and message.
func TestRunAsNonRootRefused(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: spec-nonroot
spec:
  securityContext:
    runAsNonRoot: true
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
`)
	p := waitPod(t, "spec-nonroot", 30*time.Second, "waiting with a config error", func(p *v1.Pod) bool {
		cs := containerStatus(p, "main")
		return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CreateContainerConfigError"
	})
	if msg := containerStatus(p, "main").State.Waiting.Message; !strings.Contains(msg, "container has runAsNonRoot and image will run as root") {
		t.Errorf("message = %q", msg)
	}
}
