package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miniagent/miniagent/agent/admission"
	v1 "k8s.io/api/core/v1"
)

// The admission tests change the node's labels and taints, so they do not
// call t.Parallel: Go runs them one at a time before any parallel test, and
// each restores the node when it ends.

// admPod is a busybox pod running until SIGTERM; spec lines go under spec
// (indented two spaces), container lines under the container (four spaces).
func admPod(name, labels, spec, container string) string {
	m := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n", name)
	if labels != "" {
		m += "  labels:\n" + indent(labels, "    ")
	}
	m += "spec:\n  terminationGracePeriodSeconds: 1\n" + indent(spec, "  ")
	m += fmt.Sprintf("  containers:\n  - name: main\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\", %q]\n", foreverScript)
	return m + indent(container, "    ")
}

func indent(block, prefix string) string {
	if block == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// taintNode runs `miniagent taint node` and removes the taints (by key and
// effect) when the test ends.
func taintNode(t *testing.T, specs ...string) {
	t.Helper()
	out := run(t, append([]string{"taint", "node", nodeName}, specs...)...)
	if !strings.Contains(out, "node/"+nodeName+" ") {
		t.Fatalf("taint output %q", out)
	}
	x := e2e(t)
	for _, s := range specs {
		key, effect, _ := strings.Cut(s, ":")
		key, _, _ = strings.Cut(key, "=")
		t.Cleanup(func() { _, _, _ = x.cli(context.Background(), "taint", "node", nodeName, key+":"+effect+"-") })
	}
}

// labelNode runs `miniagent label node --overwrite` and removes the labels
// when the test ends.
func labelNode(t *testing.T, specs ...string) {
	t.Helper()
	run(t, append([]string{"label", "node", nodeName, "--overwrite"}, specs...)...)
	x := e2e(t)
	for _, s := range specs {
		key, _, _ := strings.Cut(s, "=")
		t.Cleanup(func() { _, _, _ = x.cli(context.Background(), "label", "node", nodeName, key+"-") })
	}
}

// wantRejected waits for the pod to be Failed and checks kubelet's reason
// and message, a QoS class, and that containerd holds nothing for it.
func wantRejected(t *testing.T, name, reason, message string) *v1.Pod {
	t.Helper()
	pod := waitPod(t, name, 30*time.Second, "rejected", phaseIs(v1.PodFailed))
	if pod.Status.Reason != reason || pod.Status.Message != message {
		t.Errorf("pod %s: reason %q message %q, want %q %q", name, pod.Status.Reason, pod.Status.Message, reason, message)
	}
	if pod.Status.QOSClass == "" {
		t.Errorf("pod %s: rejected pod has no qosClass", name)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil || cs.ContainerID != "" {
			t.Errorf("pod %s: rejected pod has a started container: %+v", name, cs)
		}
	}
	inst, err := e2e(t).podInstances(string(pod.UID))
	if err != nil {
		t.Fatal(err)
	}
	if len(inst) != 0 {
		t.Errorf("pod %s: rejected pod has containerd objects: %+v", name, inst)
	}
	return pod
}

func waitRunning(t *testing.T, name string) *v1.Pod {
	t.Helper()
	return waitPod(t, name, 60*time.Second, "running", running)
}

// stillRunning fails the test if the pod stops running within d.
func stillRunning(t *testing.T, name string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if p := getPod(t, name); !running(p) {
			t.Fatalf("pod %s stopped running: phase %s reason %q message %q", name, p.Status.Phase, p.Status.Reason, p.Status.Message)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func rejectedMessage(predicate, why string) string {
	return fmt.Sprintf("Pod was rejected: Predicate %s failed: %s", predicate, why)
}

func TestAdmissionTaintsAndTolerations(t *testing.T) {
	e2e(t)
	taintNode(t, "e2e-dedicated=db:NoSchedule")
	apply(t, admPod("adm-untolerated", "", "", ""))
	wantRejected(t, "adm-untolerated", "TaintToleration", rejectedMessage("TaintToleration", "node(s) had taints that the pod didn't tolerate"))

	apply(t, admPod("adm-tolerated", "", `tolerations:
- key: e2e-dedicated
  operator: Equal
  value: db
  effect: NoSchedule`, ""))
	waitRunning(t, "adm-tolerated")

	apply(t, admPod("adm-tolerate-all", "", "tolerations:\n- operator: Exists", ""))
	waitRunning(t, "adm-tolerate-all")

	// PreferNoSchedule admits.
	taintNode(t, "e2e-soft:PreferNoSchedule")
	apply(t, admPod("adm-soft", "", "tolerations:\n- key: e2e-dedicated\n  operator: Exists", ""))
	waitRunning(t, "adm-soft")

	out := run(t, "describe", "node", nodeName)
	for _, want := range []string{"e2e-dedicated=db:NoSchedule", "e2e-soft:PreferNoSchedule", "Non-terminated Pods:", "adm-tolerated", "Allocated resources:"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe node lacks %q:\n%s", want, out)
		}
	}
}

func TestAdmissionNodeSelectorAndAffinity(t *testing.T) {
	e2e(t)
	labelNode(t, "e2e-disk=ssd", "e2e-cores=8")
	apply(t, admPod("adm-selector-miss", "", "nodeSelector:\n  e2e-disk: hdd", ""))
	wantRejected(t, "adm-selector-miss", "NodeAffinity", rejectedMessage("NodeAffinity", "node(s) didn't match Pod's node affinity/selector"))

	apply(t, admPod("adm-selector-hit", "", "nodeSelector:\n  e2e-disk: ssd", ""))
	waitRunning(t, "adm-selector-hit")

	affinity := func(op, values string) string {
		return fmt.Sprintf(`affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
      - matchExpressions:
        - key: e2e-disk
          operator: %s
%s        - key: e2e-cores
          operator: Gt
          values: ["4"]`, op, values)
	}
	apply(t, admPod("adm-affinity-hit", "", affinity("In", "          values: [ssd, nvme]\n"), ""))
	waitRunning(t, "adm-affinity-hit")
	apply(t, admPod("adm-affinity-miss", "", affinity("NotIn", "          values: [ssd]\n"), ""))
	wantRejected(t, "adm-affinity-miss", "NodeAffinity", rejectedMessage("NodeAffinity", "node(s) didn't match Pod's node affinity/selector"))
	apply(t, admPod("adm-affinity-exists", "", affinity("Exists", ""), ""))
	waitRunning(t, "adm-affinity-exists")

	// IgnoredDuringExecution: changing labels never evicts.
	run(t, "label", "node", nodeName, "e2e-disk=hdd", "--overwrite")
	stillRunning(t, "adm-selector-hit", 3*time.Second)
	stillRunning(t, "adm-affinity-hit", 500*time.Millisecond)
}

func TestAdmissionPodAntiAffinity(t *testing.T) {
	e2e(t)
	apply(t, admPod("adm-db", "app: e2e-db", "", ""))
	waitRunning(t, "adm-db")
	anti := `affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
    - labelSelector:
        matchLabels:
          app: e2e-db
      topologyKey: kubernetes.io/hostname`
	manifest := admPod("adm-not-with-db", "", anti, "")
	apply(t, manifest)
	wantRejected(t, "adm-not-with-db", "InterPodAffinity", rejectedMessage("InterPodAffinity", "node(s) didn't match pod anti-affinity rules"))

	// The existing pod's anti-affinity keeps a matching newcomer out too.
	apply(t, admPod("adm-guard", "app: e2e-guard", strings.ReplaceAll(anti, "e2e-db", "e2e-web"), ""))
	waitRunning(t, "adm-guard")
	apply(t, admPod("adm-web", "app: e2e-web", "", ""))
	wantRejected(t, "adm-web", "InterPodAffinity", rejectedMessage("InterPodAffinity", "node(s) didn't satisfy existing pods anti-affinity rules"))

	// Affinity to a running pod, and the first pod of a self-affine group.
	apply(t, admPod("adm-with-db", "", strings.ReplaceAll(anti, "podAntiAffinity", "podAffinity"), ""))
	waitRunning(t, "adm-with-db")
	apply(t, admPod("adm-group-first", "app: e2e-group", strings.ReplaceAll(strings.ReplaceAll(anti, "podAntiAffinity", "podAffinity"), "e2e-db", "e2e-group"), ""))
	waitRunning(t, "adm-group-first")

	// Once the db pod is gone, the pod is admitted when applied again.
	deletePod(t, "adm-db", 0)
	deletePod(t, "adm-not-with-db", 0)
	apply(t, manifest)
	waitRunning(t, "adm-not-with-db")
}

func TestAdmissionNoExecuteEviction(t *testing.T) {
	e2e(t)
	tol := func(secs int) string {
		return fmt.Sprintf("tolerations:\n- key: e2e-evict\n  operator: Exists\n  effect: NoExecute\n  tolerationSeconds: %d", secs)
	}
	apply(t, admPod("adm-evict-now", "", "", ""))
	apply(t, admPod("adm-evict-later", "", tol(6), ""))
	apply(t, admPod("adm-evict-cancelled", "", tol(12), ""))
	apply(t, admPod("adm-evict-never", "", "tolerations:\n- key: e2e-evict\n  operator: Exists", ""))
	for _, n := range []string{"adm-evict-now", "adm-evict-later", "adm-evict-cancelled", "adm-evict-never"} {
		waitRunning(t, n)
	}

	start := time.Now()
	taintNode(t, "e2e-evict=yes:NoExecute")
	evicted := waitPod(t, "adm-evict-now", 10*time.Second, "evicted", phaseIs(v1.PodFailed))
	if evicted.Status.Reason != admission.EvictionReason {
		t.Errorf("evicted pod reason %q message %q, want reason %q", evicted.Status.Reason, evicted.Status.Message, admission.EvictionReason)
	}
	wantEvents(t, "adm-evict-now", admission.EvictionReason, "Marking for deletion Pod default/adm-evict-now")

	later := waitPod(t, "adm-evict-later", 20*time.Second, "evicted", phaseIs(v1.PodFailed))
	if took := time.Since(start); took < 5*time.Second {
		t.Errorf("pod with tolerationSeconds 6 evicted after %v", took)
	}
	if later.Status.Reason != admission.EvictionReason {
		t.Errorf("evicted pod reason %q, want %q", later.Status.Reason, admission.EvictionReason)
	}
	// Removing the taint in time cancels the pending eviction.
	run(t, "taint", "node", nodeName, "e2e-evict:NoExecute-")
	if time.Since(start) > 11*time.Second {
		t.Fatalf("too slow to test cancellation (%v since the taint)", time.Since(start))
	}
	stillRunning(t, "adm-evict-cancelled", time.Until(start.Add(15*time.Second)))
	stillRunning(t, "adm-evict-never", 300*time.Millisecond)
}

func TestAdmissionResources(t *testing.T) {
	e2e(t)
	var node v1.Node
	if err := json.Unmarshal([]byte(run(t, "get", "node", nodeName, "-o", "json")), &node); err != nil {
		t.Fatal(err)
	}
	mem := node.Status.Allocatable[v1.ResourceMemory]
	cpu := node.Status.Allocatable[v1.ResourceCPU]
	tooMuch := mem.Value() + 1<<30
	apply(t, admPod("adm-too-much-memory", "", "", fmt.Sprintf("resources:\n  requests:\n    memory: %d", tooMuch)))
	pod := waitPod(t, "adm-too-much-memory", 30*time.Second, "rejected", phaseIs(v1.PodFailed))
	wantPrefix := fmt.Sprintf("Pod was rejected: Node didn't have enough resource: memory, requested: %d, used: ", tooMuch)
	wantSuffix := fmt.Sprintf(", capacity: %d", mem.Value())
	if pod.Status.Reason != "OutOfmemory" || !strings.HasPrefix(pod.Status.Message, wantPrefix) || !strings.HasSuffix(pod.Status.Message, wantSuffix) {
		t.Errorf("reason %q message %q, want OutOfmemory %q...%q", pod.Status.Reason, pod.Status.Message, wantPrefix, wantSuffix)
	}
	wantRejected(t, "adm-too-much-memory", "OutOfmemory", pod.Status.Message)
	if pod.Status.QOSClass != v1.PodQOSBurstable {
		t.Errorf("qosClass %q, want Burstable", pod.Status.QOSClass)
	}

	// An init container's request counts alone.
	apply(t, admPod("adm-too-much-cpu", "", fmt.Sprintf(`initContainers:
- name: init
  image: busybox
  imagePullPolicy: IfNotPresent
  command: ["true"]
  resources:
    requests:
      cpu: "%d"`, cpu.Value()+1), ""))
	pod = waitPod(t, "adm-too-much-cpu", 30*time.Second, "rejected", phaseIs(v1.PodFailed))
	if want := fmt.Sprintf("requested: %d, used: ", (cpu.Value()+1)*1000); pod.Status.Reason != "OutOfcpu" || !strings.Contains(pod.Status.Message, want) {
		t.Errorf("reason %q message %q, want OutOfcpu with %q", pod.Status.Reason, pod.Status.Message, want)
	}

	apply(t, admPod("adm-fits", "", "", "resources:\n  requests:\n    memory: 16Mi\n    cpu: 10m"))
	waitRunning(t, "adm-fits")
}

func TestAdmissionHostPorts(t *testing.T) {
	e2e(t)
	port := func(p int, proto string) string {
		return fmt.Sprintf("ports:\n- containerPort: %d\n  hostPort: %d\n  protocol: %s", p, p, proto)
	}
	// Host ports only reach a pod with hostNetwork (miniagent rejects them
	// elsewhere); the containers do not listen, admission alone decides.
	const hostNet = "hostNetwork: true"
	apply(t, admPod("adm-port-a", "", hostNet, port(18080, "TCP")))
	waitRunning(t, "adm-port-a")
	apply(t, admPod("adm-port-b", "", hostNet, port(18080, "TCP")))
	wantRejected(t, "adm-port-b", "NodePorts", rejectedMessage("NodePorts", "node(s) didn't have free ports for the requested pod ports"))
	apply(t, admPod("adm-port-udp", "", hostNet, port(18080, "UDP")))
	waitRunning(t, "adm-port-udp")
}
