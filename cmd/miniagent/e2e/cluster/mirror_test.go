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

// staticManifest is a static pod running one busybox container.
func staticManifest(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels: {app: %[1]s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: %[1]s
    image: busybox
    imagePullPolicy: Never
    command: ["sleep", "3600"]
`, name)
}

// TestClusterStaticPods runs static pods on an agent joined to a real
// control plane and checks, through kubectl: their mirror pods (kubelet's
// annotations, owned by the Node), re-created after `kubectl delete pod`
// without touching the containers; the events about them (and the Node's)
// from kubelet; an apiserver stopped and started again disturbs no pod
// and what happened meanwhile (a new static pod, its events) catches up;
// a restarted agent keeps its Node, its containers and its mirror pods;
// a removed manifest takes its mirror pod along; a stopped agent's Lease
// expires and its Node goes NotReady.
func TestClusterStaticPods(t *testing.T) {
	e := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nodeName := e.prefix + "-a"
	cp, err := Start(ctx, Config{BinDir: e.binDir, BasePort: e.basePort, Nodes: []string{nodeName},
		NodeMonitorGracePeriod: graceFor, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver log:\n%s", cp.Logs("kube-apiserver", 20))
		}
		// kube-apiserver, with an agent's watches open or after one had
		// them, took more than Stop's 15 s to end on SIGTERM in both runs
		// that tried (host load about 50); it is killed instead, which is
		// what this test does to it anyway.
		_ = cp.StopAPIServer()
		if err := cp.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	tmp := t.TempDir()
	bin := buildAgent(t, e.repo, tmp)
	importBusybox(t, e.repo, bin, tmp, nodeName)
	manifests := filepath.Join(tmp, "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	writeManifest(t, manifests, "web")
	a := newAgent(t, bin, nodeName, cp.NodeKubeconfigs[nodeName], e.basePort+10,
		"--node-lease-duration-seconds", leaseSeconds, "--node-status-update-frequency", "2s",
		"--pod-manifest-path", manifests)
	local := localCLI{t: t, bin: bin, socket: filepath.Join(a.dir, "agent.sock")}
	t.Cleanup(func() { removeStaticPods(t, a, local, manifests) }) // before the agent's own clean-up
	k := kubectl{t: t, ctx: ctx, cp: cp}
	web := "web-" + nodeName

	k.waitRegistered(nodeName)
	k.run("wait", "--for=condition=Ready", "node/"+nodeName, "--timeout=90s")
	node := k.node(nodeName)
	webIDs := local.waitRunning(web)

	// The mirror pod: kubelet's annotations, bound to and owned by the Node.
	mirror := k.waitPod(web, func(p *v1.Pod) bool { return p != nil })
	checkMirror(t, mirror, local.pod(web), node)

	// Events about the mirror pod, from kubelet on the node.
	started := k.waitEvent("Started about "+web, func(ev v1.Event) bool {
		return ev.Reason == "Started" && ev.InvolvedObject.Name == web
	})
	if io := started.InvolvedObject; io.UID != mirror.UID || io.Kind != "Pod" || io.Namespace != "default" || io.FieldPath != "spec.containers{web}" {
		t.Errorf("Started event involvedObject = %+v, want the mirror pod %s, fieldPath spec.containers{web}", io, mirror.UID)
	}
	if started.Source.Component != "kubelet" || started.Source.Host != nodeName || started.Message != "Started container web" {
		t.Errorf("Started event = %+v", started)
	}
	for _, reason := range []string{"Starting", "NodeReady", "NodeHasSufficientMemory"} {
		k.waitEvent(reason+" about the Node", func(ev v1.Event) bool {
			return ev.Reason == reason && ev.InvolvedObject.Kind == "Node" && ev.InvolvedObject.Name == nodeName
		})
	}

	// kubectl delete pod: the mirror pod comes back, the container stays.
	k.run("delete", "pod", web, "--wait=false")
	deletedAt := time.Now()
	again := k.waitPod(web, func(p *v1.Pod) bool { return p != nil && p.UID != mirror.UID && p.DeletionTimestamp == nil })
	t.Logf("mirror pod re-created %v after kubectl delete", time.Since(deletedAt).Round(time.Millisecond))
	checkMirror(t, again, local.pod(web), node)
	local.sameContainers(web, webIDs)

	// The apiserver goes away for a while: nothing happens to the pods; a
	// static pod added meanwhile runs, and its mirror pod and events
	// appear once the apiserver is back.
	if err := cp.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	db := "db-" + nodeName
	writeManifest(t, manifests, "db")
	dbIDs := local.waitRunning(db)
	time.Sleep(time.Until(stoppedAt.Add(20 * time.Second)))
	local.sameContainers(web, webIDs)
	if err := cp.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("apiserver down for %v", time.Since(stoppedAt).Round(time.Millisecond))
	back := time.Now()
	dbMirror := k.waitPod(db, func(p *v1.Pod) bool { return p != nil })
	ev := k.waitEvent("Started about "+db, func(ev v1.Event) bool {
		return ev.Reason == "Started" && ev.InvolvedObject.Name == db
	})
	t.Logf("mirror pod and events of the static pod added during the outage %v after the apiserver was back", time.Since(back).Round(time.Millisecond))
	if ev.InvolvedObject.UID != dbMirror.UID {
		t.Errorf("Started event of %s about UID %s, want its mirror pod %s", db, ev.InvolvedObject.UID, dbMirror.UID)
	}
	checkMirror(t, dbMirror, local.pod(db), node)
	if p := k.pod(web); p == nil || p.UID != again.UID {
		t.Errorf("mirror pod of %s changed across the apiserver restart: %v", web, p)
	}
	local.sameContainers(web, webIDs)
	local.sameContainers(db, dbIDs)
	k.run("wait", "--for=condition=Ready", "node/"+nodeName, "--timeout=30s")

	// The agent restarts: same Node, same containers, same mirror pods.
	a.stop()
	a.start()
	k.run("wait", "--for=condition=Ready", "node/"+nodeName, "--timeout=60s")
	time.Sleep(3 * time.Second) // a few reconciles of the mirror pods
	local.waitRunning(web)
	local.sameContainers(web, webIDs)
	local.sameContainers(db, dbIDs)
	if n := k.node(nodeName); n.UID != node.UID {
		t.Errorf("restarted agent: Node UID %s, want the same object %s", n.UID, node.UID)
	}
	if p := k.pod(web); p == nil || p.UID != again.UID {
		t.Errorf("restarted agent: mirror pod of %s %v, want the same %s", web, p, again.UID)
	}

	// A removed manifest takes its mirror pod along.
	if err := os.Remove(filepath.Join(manifests, "db.yaml")); err != nil {
		t.Fatal(err)
	}
	k.waitPod(db, func(p *v1.Pod) bool { return p == nil })
	local.waitGone(db)

	// The agent stops: its Lease is not renewed, the Node goes NotReady.
	removeStaticPods(t, a, local, manifests)
	a.stop()
	stopped := time.Now()
	// The controller manager's informers came back from the apiserver's
	// outage above with client-go's watch back-off (up to 30 s), so its
	// node lifecycle controller may see the Lease late: 45-56 s were seen
	// under load, 15 s without the outage (TestClusterNodes).
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-controller-manager log:\n%s", cp.Logs("kube-controller-manager", 40))
		}
	})
	waitFor(t, graceFor+100*time.Second, nodeName+" NotReady", func() (bool, string) {
		c := ready(k.node(nodeName))
		return c.Status == v1.ConditionUnknown, string(c.Status) + " " + c.Reason
	})
	t.Logf("%s NotReady %v after its agent stopped", nodeName, time.Since(stopped).Round(time.Millisecond))
	if out := k.run("get", "node", nodeName); !strings.Contains(out, "NotReady") {
		t.Errorf("kubectl get node:\n%s", out)
	}
}

// checkMirror checks a mirror pod against its static pod and the Node.
func checkMirror(t *testing.T, m, static *v1.Pod, node *v1.Node) {
	t.Helper()
	want := map[string]string{
		"kubernetes.io/config.mirror": static.Annotations["kubernetes.io/config.hash"],
		"kubernetes.io/config.source": "file",
		"kubernetes.io/config.hash":   static.Annotations["kubernetes.io/config.hash"],
		"kubernetes.io/config.seen":   static.Annotations["kubernetes.io/config.seen"],
	}
	for k, v := range want {
		if m.Annotations[k] != v || v == "" {
			t.Errorf("mirror pod %s annotation %s = %q, want %q", m.Name, k, m.Annotations[k], v)
		}
	}
	if m.Spec.NodeName != node.Name {
		t.Errorf("mirror pod %s nodeName %q, want %s", m.Name, m.Spec.NodeName, node.Name)
	}
	if o := m.OwnerReferences; len(o) != 1 || o[0].Kind != "Node" || o[0].Name != node.Name || o[0].UID != node.UID || o[0].Controller == nil || !*o[0].Controller {
		t.Errorf("mirror pod %s ownerReferences %+v, want the Node %s (%s)", m.Name, o, node.Name, node.UID)
	}
}

func writeManifest(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(staticManifest(name)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// removeStaticPods empties the manifest directory and waits until the
// agent has no pods left, so that no container outlives the test; the
// agent is started for it if it is not running.
func removeStaticPods(t *testing.T, a *agent, local localCLI, dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
	if !a.alive() {
		a.start()
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if pods, err := local.pods(); err == nil && len(pods) == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("clean-up: the agent still has pods 90s after the manifests were removed")
}

// localCLI asks the agent's own API (its socket) through the miniagent CLI.
type localCLI struct {
	t      *testing.T
	bin    string
	socket string
}

func (l localCLI) pods() ([]v1.Pod, error) {
	cmd := exec.Command(l.bin, "get", "pods", "-A", "-o", "json")
	cmd.Env = append(os.Environ(), "MINIAGENT_SOCKET="+l.socket)
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	var list v1.PodList
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("%w: %s", err, out)
	}
	return list.Items, nil
}

func (l localCLI) pod(name string) *v1.Pod {
	l.t.Helper()
	pods, err := l.pods()
	if err != nil {
		l.t.Fatalf("agent pods: %v", err)
	}
	for i := range pods {
		if pods[i].Name == name {
			return &pods[i]
		}
	}
	l.t.Fatalf("agent has no pod %s", name)
	return nil
}

// containers are a pod's container IDs and restart counts.
type containers map[string]string

func containerState(p *v1.Pod) containers {
	c := containers{}
	for _, s := range p.Status.ContainerStatuses {
		c[s.Name] = fmt.Sprintf("%s restarts=%d running=%v", s.ContainerID, s.RestartCount, s.State.Running != nil)
	}
	return c
}

// waitRunning waits until the agent runs every container of the pod and
// returns their IDs.
func (l localCLI) waitRunning(name string) containers {
	l.t.Helper()
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		pods, err := l.pods()
		for i := range pods {
			p := &pods[i]
			if p.Name != name || p.Status.Phase != v1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
				continue
			}
			running := true
			for _, s := range p.Status.ContainerStatuses {
				running = running && s.State.Running != nil
			}
			if running {
				return containerState(p)
			}
			last = fmt.Sprintf("%s %v", p.Status.Phase, containerState(p))
		}
		if err != nil {
			last = err.Error()
		}
		time.Sleep(300 * time.Millisecond)
	}
	l.t.Fatalf("pod %s not running in the agent within 60s (last: %s)", name, last)
	return nil
}

func (l localCLI) sameContainers(name string, want containers) {
	l.t.Helper()
	got := containerState(l.pod(name))
	for c, w := range want {
		if got[c] != w {
			l.t.Errorf("pod %s container %s: %s, want the same as before: %s", name, c, got[c], w)
		}
	}
}

func (l localCLI) waitGone(name string) {
	l.t.Helper()
	waitFor(l.t, 60*time.Second, "pod "+name+" gone from the agent", func() (bool, string) {
		pods, err := l.pods()
		if err != nil {
			return false, err.Error()
		}
		for _, p := range pods {
			if p.Name == name {
				return false, string(p.Status.Phase)
			}
		}
		return true, ""
	})
}

// waitRegistered waits until the Nodes exist: kubectl wait fails at once
// for a Node not registered yet (an agent starting on a loaded host).
func (k kubectl) waitRegistered(nodes ...string) {
	k.t.Helper()
	for _, n := range nodes {
		waitFor(k.t, 90*time.Second, "Node "+n+" registered", func() (bool, string) {
			return strings.TrimSpace(k.run("get", "node", n, "--ignore-not-found", "-o", "name")) != "", "not yet"
		})
	}
}

// pod is the apiserver's pod default/name, nil if there is none.
func (k kubectl) pod(name string) *v1.Pod {
	k.t.Helper()
	out, err := k.cp.Kubectl(k.ctx, "get", "pod", name, "-n", "default", "-o", "json", "--ignore-not-found")
	if err != nil {
		k.t.Fatal(err)
	}
	if strings.TrimSpace(out) == "" {
		return nil
	}
	var p v1.Pod
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		k.t.Fatal(err)
	}
	return &p
}

func (k kubectl) waitPod(name string, cond func(*v1.Pod) bool) *v1.Pod {
	k.t.Helper()
	var p *v1.Pod
	waitFor(k.t, 60*time.Second, "pod "+name+" in the apiserver", func() (bool, string) {
		p = k.pod(name)
		if p == nil {
			return cond(p), "none"
		}
		return cond(p), fmt.Sprintf("uid %s deleting %v", p.UID, p.DeletionTimestamp != nil)
	})
	return p
}

// waitEvent waits for an event in the default namespace that matches.
func (k kubectl) waitEvent(what string, match func(v1.Event) bool) v1.Event {
	k.t.Helper()
	var found v1.Event
	waitFor(k.t, 60*time.Second, "event: "+what, func() (bool, string) {
		var list v1.EventList
		if err := json.Unmarshal([]byte(k.run("get", "events", "-n", "default", "-o", "json")), &list); err != nil {
			k.t.Fatal(err)
		}
		var seen []string
		for _, ev := range list.Items {
			if match(ev) {
				found = ev
				return true, ""
			}
			seen = append(seen, ev.Reason+"/"+ev.InvolvedObject.Name)
		}
		return false, strings.Join(seen, ",")
	})
	return found
}
