package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/cgroups"
	"github.com/miniagent/miniagent/oom"
)

// QoS, cgroup and OOM tests. The ones marked "needs wiring" depend on the
// agent calling cgroups.Manager (EnsureTop/EnsurePod) and on the daemon's
// node-allocatable flags; they skip until `miniagent daemon --help` lists
// --enforce-node-allocatable.

const memCgroup = "/sys/fs/cgroup/memory"

// cgroupValue reads a cgroup v1 file of cgroup path in controller ctrl.
func cgroupValue(t *testing.T, ctrl, path, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, path, file))
	if err != nil {
		t.Fatalf("read cgroup file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// needV1 skips tests that read cgroup v1 files on a host without them.
func needV1(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(memCgroup, "memory.limit_in_bytes")); err != nil {
		t.Skip("host has no cgroup v1 memory hierarchy")
	}
}

// needsWiring skips until the daemon offers the node-allocatable flags that
// come with the coordinator's wiring of the cgroups manager.
func needsWiring(t *testing.T, x *harness) {
	t.Helper()
	out, _ := exec.Command(x.bin, "daemon", "--help").CombinedOutput()
	if !strings.Contains(string(out), "--enforce-node-allocatable") {
		t.Skip("needs wiring: the daemon does not drive cgroups.Manager / node allocatable yet")
	}
}

func containerCgroup(pod *v1.Pod, cs *v1.ContainerStatus) string {
	id := strings.TrimPrefix(cs.ContainerID, "containerd://")
	return cgroups.PodPath(cgroupRoot, pod.Status.QOSClass, string(pod.UID)) + "/" + id
}

func memTotal(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal")
	return 0
}

func qosPodYAML(name, resources string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Always
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
%s`, name, foreverScript, resources)
}

func TestQoSClassesOOMScoreAndContainerCgroups(t *testing.T) {
	e2e(t)
	needV1(t)
	t.Parallel()
	floor, _ := oom.Floor()
	tests := []struct {
		name      string
		resources string
		qos       v1.PodQOSClass
		mem       string // container memory.limit_in_bytes
		shares    string
		quota     string
	}{
		{"e2e-qos-guaranteed", "    resources:\n      limits: {cpu: 200m, memory: 64Mi}\n", v1.PodQOSGuaranteed, "67108864", "204", "20000"},
		{"e2e-qos-burstable", "    resources:\n      requests: {cpu: 100m, memory: 32Mi}\n      limits: {memory: 128Mi}\n", v1.PodQOSBurstable, "134217728", "102", "-1"},
		{"e2e-qos-besteffort", "", v1.PodQOSBestEffort, "9223372036854771712", "2", "-1"},
	}
	for _, tc := range tests {
		apply(t, qosPodYAML(tc.name, tc.resources))
	}
	for _, tc := range tests {
		pod := waitPod(t, tc.name, 60*time.Second, "Running", phaseIs(v1.PodRunning))
		if pod.Status.QOSClass != tc.qos {
			t.Errorf("%s: qosClass %q, want %q", tc.name, pod.Status.QOSClass, tc.qos)
		}
		cs := containerStatus(pod, "main")
		if cs == nil || cs.ContainerID == "" {
			t.Fatalf("%s: no container status", tc.name)
		}
		path := containerCgroup(pod, cs)
		pids := strings.Fields(cgroupValue(t, "memory", path, "cgroup.procs"))
		if len(pids) == 0 {
			t.Fatalf("%s: no process in %s", tc.name, path)
		}
		want := oom.Clamp(oom.PolicyScore(pod, &pod.Spec.Containers[0], tc.qos, memTotal(t)), floor)
		for _, pid := range pids {
			b, err := os.ReadFile("/proc/" + pid + "/oom_score_adj")
			if err != nil {
				continue // exited between the two reads
			}
			if got := strings.TrimSpace(string(b)); got != strconv.Itoa(want) {
				t.Errorf("%s: pid %s oom_score_adj %s, want %d", tc.name, pid, got, want)
			}
		}
		if got := cgroupValue(t, "memory", path, "memory.limit_in_bytes"); got != tc.mem {
			t.Errorf("%s: container memory.limit_in_bytes %s, want %s", tc.name, got, tc.mem)
		}
		if got := cgroupValue(t, "cpu", path, "cpu.shares"); got != tc.shares {
			t.Errorf("%s: container cpu.shares %s, want %s", tc.name, got, tc.shares)
		}
		if got := cgroupValue(t, "cpu", path, "cpu.cfs_quota_us"); got != tc.quota {
			t.Errorf("%s: container cpu.cfs_quota_us %s, want %s", tc.name, got, tc.quota)
		}
	}
}

// terminatedOOM returns the OOMKilled termination in the container's
// current or last state.
func terminatedOOM(cs *v1.ContainerStatus) *v1.ContainerStateTerminated {
	if cs == nil {
		return nil
	}
	for _, term := range []*v1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
		if term != nil && term.Reason == "OOMKilled" {
			return term
		}
	}
	return nil
}

// hogScript grows memory until killed (tail keeps the endless line).
const hogScript = "tail /dev/zero"

func TestContainerOverLimitIsOOMKilled(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: e2e-oom-limit
spec:
  restartPolicy: Always
  containers:
  - name: hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
    resources:
      limits: {memory: 32Mi}
`, hogScript))
	pod := waitPod(t, "e2e-oom-limit", 90*time.Second, "restarted after an OOM kill", func(p *v1.Pod) bool {
		cs := containerStatus(p, "hog")
		return cs != nil && cs.RestartCount >= 1 && terminatedOOM(cs) != nil
	})
	term := terminatedOOM(containerStatus(pod, "hog"))
	if term.ExitCode != 137 {
		t.Errorf("OOMKilled exit code %d, want 137", term.ExitCode)
	}
	if pod.Status.Phase != v1.PodRunning && pod.Status.Phase != v1.PodPending {
		t.Errorf("phase %s under restartPolicy Always", pod.Status.Phase)
	}
}

func TestInitContainerOOMKilledKeepsAppPodInitializing(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: e2e-oom-init
spec:
  restartPolicy: Always
  initContainers:
  - name: init-hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
    resources:
      limits: {memory: 24Mi}
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
`, hogScript, foreverScript))
	pod := waitPod(t, "e2e-oom-init", 90*time.Second, "init container OOMKilled", func(p *v1.Pod) bool {
		for i := range p.Status.InitContainerStatuses {
			if terminatedOOM(&p.Status.InitContainerStatuses[i]) != nil {
				return true
			}
		}
		return false
	})
	term := terminatedOOM(&pod.Status.InitContainerStatuses[0])
	if term.ExitCode != 137 {
		t.Errorf("init OOMKilled exit code %d, want 137", term.ExitCode)
	}
	app := containerStatus(pod, "app")
	if app == nil || app.State.Waiting == nil || app.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("app container state %+v, want waiting PodInitializing", app)
	}
	if pod.Status.Phase != v1.PodPending {
		t.Errorf("phase %s, want Pending", pod.Status.Phase)
	}
	// Kubelet keeps Initialized False while the init container restarts,
	// and a running regular init container is never Ready.
	if c := condition(pod, v1.PodInitialized); c == nil || c.Status != v1.ConditionFalse {
		t.Errorf("Initialized = %+v, want False", c)
	}
	if ic := containerStatus(pod, pod.Spec.InitContainers[0].Name); ic != nil && ic.State.Running != nil && ic.Ready {
		t.Errorf("running init container reported Ready")
	}
}

// TestPodCgroupValues needs wiring: the pod-level cgroup values come from
// cgroups.Manager.EnsurePod, and the QoS cgroups from EnsureTop/UpdateQoS.
func TestPodCgroupValues(t *testing.T) {
	x := e2e(t)
	needV1(t)
	needsWiring(t, x)
	apply(t, qosPodYAML("e2e-podcg-guaranteed", "    resources:\n      limits: {cpu: 300m, memory: 48Mi}\n"))
	apply(t, qosPodYAML("e2e-podcg-burstable", "    resources:\n      requests: {cpu: 150m}\n      limits: {cpu: 500m, memory: 96Mi}\n"))
	g := waitPod(t, "e2e-podcg-guaranteed", 60*time.Second, "Running", phaseIs(v1.PodRunning))
	b := waitPod(t, "e2e-podcg-burstable", 60*time.Second, "Running", phaseIs(v1.PodRunning))
	gp := cgroups.PodPath(cgroupRoot, v1.PodQOSGuaranteed, string(g.UID))
	bp := cgroups.PodPath(cgroupRoot, v1.PodQOSBurstable, string(b.UID))
	checks := []struct{ ctrl, path, file, want string }{
		{"memory", gp, "memory.limit_in_bytes", "50331648"},
		{"cpu", gp, "cpu.shares", "307"},
		{"cpu", gp, "cpu.cfs_quota_us", "30000"},
		{"memory", bp, "memory.limit_in_bytes", "100663296"},
		{"cpu", bp, "cpu.shares", "153"},
		{"cpu", bp, "cpu.cfs_quota_us", "50000"},
		{"cpu", "/" + cgroupRoot + "/besteffort", "cpu.shares", "2"},
	}
	for _, c := range checks {
		if got := cgroupValue(t, c.ctrl, c.path, c.file); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.path, c.file, got, c.want)
		}
	}
	// The burstable QoS cgroup's shares cover at least this pod's request.
	if s, _ := strconv.Atoi(cgroupValue(t, "cpu", "/"+cgroupRoot+"/burstable", "cpu.shares")); s < 153 {
		t.Errorf("burstable QoS cpu.shares %d, want >= 153", s)
	}
}

// TestQoSOrderUnderSmallAllocatable: a daemon whose pods cgroup is limited
// to 400Mi (--kube-reserved, --enforce-node-allocatable=pods) with a hard
// eviction threshold allocatableMemory.available<150Mi. A BestEffort, a
// Burstable and a Guaranteed pod all allocate memory: the BestEffort pod is
// evicted first (its usage is furthest above its request), then the
// Burstable one once it grows past its request, and the Guaranteed pod,
// within its request, survives.
func TestQoSOrderUnderSmallAllocatable(t *testing.T) {
	x := e2e(t)
	needV1(t)
	needsWiring(t, x)
	reserved := memTotal(t) - 400<<20
	root := cgroupRoot + "-qos"
	y := startExtraDaemon(t, x, root,
		"--kube-reserved", fmt.Sprintf("memory=%d", reserved), "--enforce-node-allocatable", "pods",
		"--eviction-hard", "allocatableMemory.available<150Mi", "--eviction-monitoring-period", "1s")
	if got := cgroupValue(t, "memory", "/"+root, "memory.limit_in_bytes"); got != strconv.FormatInt(400<<20, 10) {
		t.Fatalf("pods cgroup memory limit %s, want %d", got, 400<<20)
	}
	// hold keeps n MiB of anonymous memory: dd fills its buffer from
	// /dev/zero, then blocks writing into a pipe nobody reads.
	hold := func(n int) string {
		return fmt.Sprintf("dd if=/dev/zero bs=%dM count=1 | sleep 3600", n)
	}
	pod := func(name, resources, script string) string {
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
%s`, name, script, resources)
	}
	applyTo(t, y, pod("e2e-order-guaranteed", "    resources:\n      limits: {cpu: 100m, memory: 100Mi}\n", hold(90)))
	applyTo(t, y, pod("e2e-order-burstable", "    resources:\n      requests: {memory: 40Mi}\n",
		hold(60)+" & sleep 25; "+hold(120)))
	applyTo(t, y, pod("e2e-order-besteffort", "", hold(120)))

	evicted := func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed && p.Status.Reason == "Evicted" }
	get := func(name string) *v1.Pod {
		p, _, err := tryGetPod(y, name)
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		return p
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, y.logTail(30))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("the BestEffort pod evicted", 60*time.Second, func() bool { return evicted(get("e2e-order-besteffort")) })
	if msg := get("e2e-order-besteffort").Status.Message; !strings.Contains(msg, "The node was low on resource: memory") {
		t.Errorf("eviction message %q", msg)
	}
	for _, name := range []string{"e2e-order-burstable", "e2e-order-guaranteed"} {
		if p := get(name); p.Status.Phase != v1.PodRunning {
			t.Fatalf("%s is %s (%s) when only the BestEffort pod should be gone", name, p.Status.Phase, p.Status.Reason)
		}
	}
	waitFor("the Burstable pod evicted", 90*time.Second, func() bool { return evicted(get("e2e-order-burstable")) })
	time.Sleep(3 * time.Second)
	if p := get("e2e-order-guaranteed"); p.Status.Phase != v1.PodRunning {
		t.Fatalf("the Guaranteed pod is %s (%s %s), want Running", p.Status.Phase, p.Status.Reason, p.Status.Message)
	}
	out, _, _ := y.cli(context.Background(), "get", "node", root+"-node", "-o", "jsonpath={.status.conditions[?(@.type==\"MemoryPressure\")].status}")
	if strings.TrimSpace(out) != "True" {
		t.Errorf("node MemoryPressure = %q, want True right after evictions", out)
	}
	// Under memory pressure a new BestEffort pod is turned away, as kubelet's
	// eviction manager admits.
	applyTo(t, y, pod("e2e-order-late-besteffort", "", "sleep 3600"))
	if p := get("e2e-order-late-besteffort"); p.Status.Phase != v1.PodFailed || p.Status.Reason != "Evicted" ||
		p.Status.Message != "Pod was rejected: The node had condition: [MemoryPressure]. " {
		t.Errorf("BestEffort pod under memory pressure: %s %q %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
	}
}

// startExtraDaemon starts a second daemon (own socket, root dir and cgroup
// root, node name <root>-node, same containerd namespace) with extra flags;
// it is stopped and its pods and cgroups removed when the test ends.
func startExtraDaemon(t *testing.T, x *harness, root string, extra ...string) *harness {
	t.Helper()
	dir := t.TempDir()
	y := &harness{repo: x.repo, dir: dir, bin: x.bin, socket: filepath.Join(dir, "s.sock"),
		rootDir: filepath.Join(dir, "root"), logsDir: filepath.Join(dir, "pods"),
		daemonLog: filepath.Join(dir, "daemon.log"), containerdAdr: x.containerdAdr}
	watchOwnDaemon(t, y.socket)
	logf, err := os.Create(y.daemonLog)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"daemon", "--containerd-address", y.containerdAdr, "--containerd-namespace", testNamespace,
		"--root-dir", y.rootDir, "--socket", y.socket, "--pod-logs-dir", y.logsDir,
		"--cgroup-root", root, "--node-name", root + "-node"}, extra...)
	cmd := exec.Command(y.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		for _, p := range y.listPodNames(ctx) {
			ns, name, _ := strings.Cut(p, "/")
			_, _, _ = y.cli(ctx, "delete", "pod", name, "-n", ns, "--grace-period", "0", "--wait=true")
		}
		cancel()
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = cgroups.RemovePath("/" + root)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, err := y.cli(context.Background(), "get", "node", "-o", "json"); err == nil {
			return y
		}
		select {
		case <-exited:
			t.Fatalf("extra daemon exited:\n%s", y.logTail(30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("extra daemon did not answer:\n%s", y.logTail(30))
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// applyTo applies manifest through daemon y.
func applyTo(t *testing.T, y *harness, manifest string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := y.cli(context.Background(), "apply", "-f", file); err != nil {
		t.Fatal(err)
	}
}
