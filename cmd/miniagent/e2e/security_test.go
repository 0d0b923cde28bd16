package e2e

import (
	"os"
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

// TestPodDNSAndHosts: the pod's /etc/resolv.conf from dnsPolicy None and
// dnsConfig, its /etc/hosts with the hostAliases; a hostNetwork pod with
// dnsPolicy Default gets the node's nameservers.
func TestPodDNSAndHosts(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: spec-dns
spec:
  restartPolicy: Never
  dnsPolicy: None
  dnsConfig:
    nameservers: [10.0.0.53]
    searches: [svc.example]
    options: [{name: ndots, value: "2"}]
  hostAliases:
  - {ip: 10.1.2.3, hostnames: [db, db.local]}
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "cat /etc/resolv.conf; grep -v '^#' /etc/hosts | grep db"]
`)
	waitPod(t, "spec-dns", 60*time.Second, "Succeeded", phaseIs(v1.PodSucceeded))
	if out, want := logs(t, "spec-dns", "main"), "search svc.example\nnameserver 10.0.0.53\noptions ndots:2\n10.1.2.3\tdb\tdb.local\n"; out != want {
		t.Errorf("container output %q, want %q", out, want)
	}

	node, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Skip(err)
	}
	var nameservers []string
	for _, l := range strings.Split(string(node), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "nameserver" {
			nameservers = append(nameservers, l)
		}
	}
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: spec-dns-host
spec:
  restartPolicy: Never
  hostNetwork: true
  dnsPolicy: Default
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "grep '^nameserver' /etc/resolv.conf; head -1 /etc/hosts"]
`)
	waitPod(t, "spec-dns-host", 60*time.Second, "Succeeded", phaseIs(v1.PodSucceeded))
	out := logs(t, "spec-dns-host", "main")
	for _, ns := range nameservers {
		if !strings.Contains(out, strings.Join(strings.Fields(ns), " ")+"\n") {
			t.Errorf("hostNetwork pod lacks the node's %q:\n%s", ns, out)
		}
	}
	if !strings.Contains(out, "# Kubernetes-managed hosts file (host network).") {
		t.Errorf("hostNetwork pod's /etc/hosts is not the managed one:\n%s", out)
	}
}
