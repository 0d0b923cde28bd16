package cluster

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

// podsRig is the control plane and two agents for the pod tests: node a
// labelled zone=a, node b labelled zone=b and tainted dedicated=b:NoSchedule,
// both with the busybox image.
type podsRig struct {
	t            *testing.T
	k            kubectl
	dir          string
	nodeA, nodeB string
	a, b         *agent
}

func newPodsRig(t *testing.T, ctx context.Context, e env) *podsRig {
	t.Helper()
	r := &podsRig{t: t, dir: t.TempDir(), nodeA: e.prefix + "-a", nodeB: e.prefix + "-b"}
	cp, err := Start(ctx, Config{BinDir: e.binDir, BasePort: e.basePort, Nodes: []string{r.nodeA, r.nodeB}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-scheduler log:\n%s", cp.Logs("kube-scheduler", 20))
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	r.k = kubectl{t: t, ctx: ctx, cp: cp}
	bin := buildAgent(t, e.repo, t.TempDir())
	image := filepath.Join(r.dir, "busybox.tar")
	if out, err := exec.Command("bash", filepath.Join(e.repo, "scripts/build-busybox-image.sh"), image).CombinedOutput(); err != nil {
		t.Fatalf("build busybox image: %v\n%s", err, out)
	}
	for _, n := range []string{r.nodeA, r.nodeB} {
		args := []string{"image", "import", image, "--containerd-namespace", n}
		if addr := os.Getenv("MINIAGENT_CONTAINERD_ADDRESS"); addr != "" {
			args = append(args, "--containerd-address", addr)
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("import busybox into %s: %v\n%s", n, err, out)
		}
	}
	// --client-ca-file: the apiserver's kubelet client is let in (kubectl exec).
	common := []string{"--node-status-update-frequency", "2s", "--client-ca-file", cp.CAFile}
	r.a = newAgent(t, bin, r.nodeA, cp.NodeKubeconfigs[r.nodeA], e.basePort+10, append(common, "--node-labels", "zone=a")...)
	r.b = newAgent(t, bin, r.nodeB, cp.NodeKubeconfigs[r.nodeB], e.basePort+11,
		append(common, "--node-labels", "zone=b", "--register-with-taints", "dedicated=b:NoSchedule")...)
	// Runs before the agents stop: every pod deleted through the API
	// server, so that the agents remove their containers.
	t.Cleanup(r.deleteAll)
	waitFor(t, 60*time.Second, "both nodes registered", func() (bool, string) {
		out, err := cp.Kubectl(ctx, "get", "node", r.nodeA, r.nodeB, "-o", "name")
		return err == nil, out
	})
	r.k.run("wait", "--for=condition=Ready", "node/"+r.nodeA, "node/"+r.nodeB, "--timeout=90s")
	waitFor(t, 60*time.Second, "service account default", func() (bool, string) {
		out, err := cp.Kubectl(ctx, "get", "serviceaccount", "default", "-o", "name")
		return err == nil, out
	})
	return r
}

// deleteAll deletes every workload and waits for the pods to be gone.
func (r *podsRig) deleteAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, args := range [][]string{
		{"delete", "deployments,pods", "--all", "--wait=true", "--timeout=80s"},
	} {
		if out, err := r.k.cp.Kubectl(ctx, args...); err != nil {
			r.t.Errorf("clean-up: %v %s", err, out)
		}
	}
	for _, a := range []*agent{r.a, r.b} {
		waitFor(r.t, 30*time.Second, "no containers or volume mounts left on "+a.name, func() (bool, string) {
			left := append(containersOf(a.name, ""), mountsBelow(a.dir+"/")...)
			return len(left) == 0, strings.Join(left, ", ")
		})
	}
}

// apply writes a manifest and applies it.
func (r *podsRig) apply(name, manifest string) {
	r.t.Helper()
	f := filepath.Join(r.dir, name+".yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.k.run("apply", "-f", f)
}

func (r *podsRig) pod(name string) *v1.Pod {
	r.t.Helper()
	var p v1.Pod
	if err := json.Unmarshal([]byte(r.k.run("get", "pod", name, "-o", "json")), &p); err != nil {
		r.t.Fatal(err)
	}
	return &p
}

func (r *podsRig) pods(selector string) []v1.Pod {
	r.t.Helper()
	var l v1.PodList
	if err := json.Unmarshal([]byte(r.k.run("get", "pods", "-l", selector, "-o", "json")), &l); err != nil {
		r.t.Fatal(err)
	}
	return l.Items
}

// containersOf lists the containerd containers in a node's namespace
// (those of pod uid only, unless uid is "").
func containersOf(namespace, uid string) []string {
	args := []string{"-n", namespace}
	if addr := os.Getenv("MINIAGENT_CONTAINERD_ADDRESS"); addr != "" {
		args = append([]string{"--address", addr}, args...)
	}
	args = append(args, "containers", "ls", "-q")
	if uid != "" {
		args = append(args, "labels.\"io.miniagent.pod.uid\"=="+uid)
	}
	out, err := exec.Command("ctr", args...).CombinedOutput()
	if err != nil {
		return []string{fmt.Sprintf("ctr %s: %v %s", strings.Join(args, " "), err, out)}
	}
	return strings.Fields(string(out))
}

// The pods' shared parts: busybox, which must not be pulled (no registry),
// no service account token volume (only the web Deployment has one, see
// webAPIVolumes), a short grace period and a main process that ends on
// SIGTERM.
const (
	podBase = `  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 2
`
	mainContainer = `  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
`
	tolerateB = `  tolerations:
  - {key: dedicated, operator: Equal, value: b, effect: NoSchedule}
`
)

func bare(name, spec string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n" + podBase + spec + "  containers:\n" + mainContainer
}

func deployment(name string, replicas int, spec string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
`, name, replicas) + indent(podBase+spec+"  containers:\n"+mainContainer, "    ")
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = by + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestClusterPods runs pods from a real control plane on two agents and
// checks through kubectl: a Deployment spread over both nodes and Running
// with full status, its service account token and configMap volumes (see
// checkAPIVolumes); the scheduler's node affinity, pod anti-affinity,
// taints and tolerations with the agents' --node-labels and
// --register-with-taints; a pod bound to a node it does not fit ending
// Failed NodeAffinity; liveness restarts; a graceful kubectl delete that
// leaves nothing on the node; kubectl label and taint node reaching the
// agent (checkNodeFromAPIServer).
func TestClusterPods(t *testing.T) {
	e := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	r := newPodsRig(t, ctx, e)
	t.Logf("control plane and both nodes Ready in %v", time.Since(start).Round(time.Millisecond))

	// A Deployment of 4, spread over both nodes.
	spread := tolerateB + `  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
`
	created := time.Now()
	r.apply("web", webAPIVolumes(deployment("web", 4, spread)))
	createWebConfigLate(t, r)
	r.k.run("rollout", "status", "deployment/web", "--timeout=120s")
	t.Logf("deployment of 4 available %v after it was applied", time.Since(created).Round(time.Millisecond))
	perNode := map[string]int{}
	steady := map[string]string{} // pod on node b → resourceVersion once Running
	for _, p := range r.pods("app=web") {
		perNode[p.Spec.NodeName]++
		checkRunning(t, &p)
		if p.Spec.NodeName == r.nodeB {
			steady[p.Name] = p.ResourceVersion
		}
	}
	steadySince := time.Now()
	if perNode[r.nodeA] != 2 || perNode[r.nodeB] != 2 {
		t.Errorf("web pods per node = %v, want 2 on each", perNode)
	}
	checkAPIVolumes(t, r, &r.pods("app=web")[0])

	// Required node affinity to --node-labels' zone.
	r.apply("affine", bare("affine", `  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: zone, operator: In, values: [b]}]
`+tolerateB))
	// Pod anti-affinity: two replicas never on one node.
	r.apply("apart", deployment("apart", 2, tolerateB+`  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: apart}}}
`))
	// The taint keeps a pod that does not tolerate it off node b; one that
	// does goes there.
	r.apply("untolerated", bare("untolerated", "  nodeSelector: {zone: b}\n"))
	r.apply("tolerated", bare("tolerated", "  nodeSelector: {zone: b}\n"+tolerateB))
	// Bound directly (no scheduler): created → Running in the API server.
	created = time.Now()
	r.apply("direct", bare("direct", "  nodeName: "+r.nodeA+"\n"))
	r.k.run("wait", "--for=jsonpath={.status.phase}=Running", "pod/direct", "--timeout=60s")
	t.Logf("pod bound by nodeName Running in the API server %v after kubectl apply", time.Since(created).Round(time.Millisecond))
	// Bound directly to node a, but it wants zone b: the agent rejects it.
	r.apply("misbound", bare("misbound", "  nodeName: "+r.nodeA+"\n  nodeSelector: {zone: b}\n"))
	// A liveness probe that always fails: restarts.
	r.apply("unhealthy", bare("unhealthy", "")+`    livenessProbe:
      exec: {command: ["sh", "-c", "exit 1"]}
      periodSeconds: 1
      failureThreshold: 1
`)

	r.k.run("wait", "--for=condition=Ready", "pod/affine", "pod/tolerated", "--timeout=90s")
	r.k.run("rollout", "status", "deployment/apart", "--timeout=90s")
	if n := r.pod("affine").Spec.NodeName; n != r.nodeB {
		t.Errorf("affine on %s, want %s (zone=b)", n, r.nodeB)
	}
	if n := r.pod("tolerated").Spec.NodeName; n != r.nodeB {
		t.Errorf("tolerated on %s, want %s", n, r.nodeB)
	}
	apart := r.pods("app=apart")
	if len(apart) != 2 || apart[0].Spec.NodeName == apart[1].Spec.NodeName {
		var nodes []string
		for _, p := range apart {
			nodes = append(nodes, p.Spec.NodeName)
		}
		t.Errorf("apart pods on %v, want two different nodes", nodes)
	}
	waitFor(t, 60*time.Second, "misbound Failed NodeAffinity", func() (bool, string) {
		p := r.pod("misbound")
		return p.Status.Phase == v1.PodFailed && p.Status.Reason == "NodeAffinity" &&
				p.Status.Message == "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
			fmt.Sprintf("%s %s %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
	})
	if left := containersOf(r.nodeA, string(r.pod("misbound").UID)); len(left) != 0 {
		t.Errorf("rejected pod has containers: %v", left)
	}
	u := r.pod("untolerated")
	if u.Spec.NodeName != "" || u.Status.Phase != v1.PodPending {
		t.Errorf("untolerated: node %q phase %s, want unscheduled Pending", u.Spec.NodeName, u.Status.Phase)
	}
	if c := podCondition(u, v1.PodScheduled); c == nil || c.Status != v1.ConditionFalse || c.Reason != "Unschedulable" ||
		!strings.Contains(c.Message, "untolerated taint") {
		t.Errorf("untolerated PodScheduled = %+v, want False Unschedulable naming the taint", c)
	}
	waitFor(t, 60*time.Second, "unhealthy restarted by its liveness probe", func() (bool, string) {
		p := r.pod("unhealthy")
		if len(p.Status.ContainerStatuses) != 1 {
			return false, "no container status"
		}
		cs := p.Status.ContainerStatuses[0]
		return cs.RestartCount >= 2 && cs.LastTerminationState.Terminated != nil, fmt.Sprintf("restartCount %d", cs.RestartCount)
	})

	// Status is written only on change: node b's web pods, Running and
	// untouched since, were not patched again through the resyncs.
	if d := time.Since(steadySince); d < 12*time.Second {
		time.Sleep(12*time.Second - d) // more than one 10 s resync
	}
	for _, p := range r.pods("app=web") {
		if rv, ok := steady[p.Name]; ok && p.ResourceVersion != rv {
			t.Errorf("pod %s changed (resourceVersion %s → %s) while nothing happened to it: %+v", p.Name, rv, p.ResourceVersion, p.Status)
		}
	}
	t.Logf("%d pods unchanged for %v", len(steady), time.Since(steadySince).Round(time.Second))

	// An agent restart re-adopts its pods from the API server: the same
	// containers keep running, none is re-created.
	before := map[string]string{}
	for _, p := range r.pods("app=web") {
		if p.Spec.NodeName == r.nodeA {
			before[p.Name] = p.Status.ContainerStatuses[0].ContainerID
		}
	}
	r.a.stop()
	r.a.start()
	// A label set in the API server reaches the restarted agent's own
	// view: its pod source is back and applied the API server's set.
	var probe string
	for name := range before {
		probe = name
	}
	r.k.run("label", "pod", probe, "restarted=yes")
	waitFor(t, 30*time.Second, "the restarted agent sees the label of "+probe, func() (bool, string) {
		out, err := exec.Command(r.a.bin, "get", "pod", probe, "-o", "json", "--socket", filepath.Join(r.a.dir, "agent.sock")).CombinedOutput()
		var p v1.Pod
		if err != nil || json.Unmarshal(out, &p) != nil {
			return false, string(out)
		}
		return p.Labels["restarted"] == "yes", fmt.Sprint(p.Labels)
	})
	for _, p := range r.pods("app=web") {
		if id, ok := before[p.Name]; ok {
			cs := p.Status.ContainerStatuses[0]
			if cs.ContainerID != id || cs.RestartCount != 0 || cs.State.Running == nil {
				t.Errorf("after the agent restart %s: container %s restarts %d running %v, want %s still running", p.Name, cs.ContainerID, cs.RestartCount, cs.State.Running != nil, id)
			}
			delete(before, p.Name)
		}
	}
	if len(before) != 0 {
		t.Errorf("pods gone after the agent restart: %v", before)
	}
	if n := len(containersOf(r.nodeA, "")); n == 0 {
		t.Errorf("no containers on %s after its restart", r.nodeA)
	}

	// kubectl delete (graceful, the pod's 2 s): gone from the API server,
	// nothing of it on the node.
	victim := r.pods("app=web")[0]
	node := victim.Spec.NodeName
	deleted := time.Now()
	r.k.run("delete", "pod", victim.Name, "--wait=true", "--timeout=60s")
	t.Logf("graceful delete of %s done in %v", victim.Name, time.Since(deleted).Round(time.Millisecond))
	if out, err := r.k.cp.Kubectl(ctx, "get", "pod", victim.Name); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("deleted pod still in the API server: %v %s", err, out)
	}
	agentDir := r.a.dir
	if node == r.nodeB {
		agentDir = r.b.dir
	}
	waitFor(t, 20*time.Second, "nothing of "+victim.Name+" left on "+node, func() (bool, string) {
		var left []string
		left = append(left, containersOf(node, string(victim.UID))...)
		left = append(left, mountsOf(string(victim.UID))...)
		for _, p := range []string{"root/checkpoints/" + string(victim.UID) + ".json", "root/pods/" + string(victim.UID),
			"pods/default_" + victim.Name + "_" + string(victim.UID)} {
			if _, err := os.Stat(filepath.Join(agentDir, p)); err == nil {
				left = append(left, p)
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
	r.k.run("rollout", "status", "deployment/web", "--timeout=90s") // the ReplicaSet replaced it
	checkNodeFromAPIServer(t, r)
	if !r.a.alive() || !r.b.alive() {
		t.Errorf("an agent exited: a alive %v, b alive %v", r.a.alive(), r.b.alive())
	}
}

// checkRunning checks the status a Running pod of this agent shows.
func checkRunning(t *testing.T, p *v1.Pod) {
	t.Helper()
	s := p.Status
	if s.Phase != v1.PodRunning || s.QOSClass != v1.PodQOSBestEffort || s.HostIP != "127.0.0.1" ||
		len(s.HostIPs) != 1 || s.HostIPs[0].IP != "127.0.0.1" || s.PodIP != "" || s.StartTime == nil {
		t.Errorf("pod %s: phase %s qos %s hostIP %q hostIPs %v podIP %q startTime %v", p.Name, s.Phase, s.QOSClass, s.HostIP, s.HostIPs, s.PodIP, s.StartTime)
	}
	var types []string
	for _, c := range s.Conditions {
		types = append(types, string(c.Type))
		if c.Status != v1.ConditionTrue {
			t.Errorf("pod %s condition %s = %s (%s)", p.Name, c.Type, c.Status, c.Reason)
		}
	}
	if got := strings.Join(types, ","); got != "PodReadyToStartContainers,Initialized,Ready,ContainersReady,PodScheduled" {
		t.Errorf("pod %s conditions %s", p.Name, got)
	}
	if len(s.ContainerStatuses) != 1 {
		t.Fatalf("pod %s containerStatuses %+v", p.Name, s.ContainerStatuses)
	}
	cs := s.ContainerStatuses[0]
	if cs.Name != "main" || !cs.Ready || cs.Started == nil || !*cs.Started || cs.State.Running == nil || cs.RestartCount != 0 ||
		!strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" || !strings.Contains(cs.Image, "busybox") {
		t.Errorf("pod %s container status %+v", p.Name, cs)
	}
}

func podCondition(p *v1.Pod, t v1.PodConditionType) *v1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
