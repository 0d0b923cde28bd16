package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// busyPod holds 8 MB in a shell variable and loops on the CPU, capped at
// 200m (Guaranteed), bound to node.
func busyPod(name, node string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: default
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 1
  containers:
  - name: spin
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "x=$(head -c 8000000 /dev/zero | tr '\\0' x); while :; do :; done"]
    resources:
      limits: {cpu: 200m, memory: 32Mi}
`, name, node)
}

// kubectlTop runs a real metrics-server (built from source, a host
// process registered as the APIService v1beta1.metrics.k8s.io) against
// the agents and checks kubectl top node and kubectl top pod --containers:
// both Nodes with CPU and memory, the static pod's mirror pod (idle
// httpd) and a busy pod bound to node with their containers, the busy one
// clearly above the idle one. metrics-server verifies the kubelets'
// serving certificates: node's self-signed one (selfSigned, its CA
// included) and the control plane CA's one of the other node.
func kubectlTop(t *testing.T, k kubectl, e env, kc *http.Client, base, node, other, static, selfSigned string) {
	k.t = t
	if _, err := os.Stat(filepath.Join(e.binDir, MetricsServerBinary)); err != nil {
		if os.Getenv("MINIAGENT_E2E_CLUSTER") == "1" {
			t.Fatalf("%s not built (scripts/build-control-plane.sh builds it): %v", MetricsServerBinary, err)
		}
		t.Skipf("%s not built (run scripts/build-control-plane.sh, or set MINIAGENT_K8S_BIN): %v", MetricsServerBinary, err)
	}
	const busy = "ksrv-busy"
	if err := k.cp.applyManifest(k.ctx, busyPod(busy, node)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = k.cp.Kubectl(context.Background(), "delete", "pod", busy, "-n", "default", "--grace-period=1", "--wait=false")
		waitGoneFromNode(t, kc, base, busy)
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("metrics-server log:\n%s", k.cp.Logs(MetricsServerBinary, 40))
		}
	})
	// The kubelets' CAs: the control plane's (other's --tls-cert-file)
	// and the one in node's self-signed certificate file.
	bundle := filepath.Join(t.TempDir(), "kubelet-ca.crt")
	var pems []byte
	for _, f := range []string{k.cp.CAFile, selfSigned} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pems = append(pems, b...)
	}
	if err := os.WriteFile(bundle, pems, 0o644); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := k.cp.StartMetricsServer(k.ctx, MetricsServerConfig{Address: hostAddress(t), Port: e.basePort + 19,
		KubeletCAFile: bundle, Resolution: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	tAvailable := time.Since(began)

	waitFor(t, 2*time.Minute, "kubectl top node shows both nodes", func() (bool, string) {
		out, err := k.cp.Kubectl(k.ctx, "top", "node")
		if err != nil {
			return false, err.Error()
		}
		rows := topRows(out)
		for _, n := range []string{node, other} {
			r := rows[n]
			cpu, cerr := resource.ParseQuantity(r["CPU(cores)"])
			mem, merr := resource.ParseQuantity(r["MEMORY(bytes)"])
			if r == nil || cerr != nil || merr != nil || mem.Value() <= 0 || cpu.Sign() < 0 {
				return false, fmt.Sprintf("node %s: %v %v %v in\n%s", n, r, cerr, merr, out)
			}
		}
		t.Logf("kubectl top node:\n%s", out)
		return true, ""
	})
	tNodes := time.Since(began)

	// Each pod once it has metrics (two scrapes after its container
	// started); the numbers are checked on that first answer. kubectl
	// shows memory in Mi: the idle httpd's few hundred KiB show as 0Mi, so
	// it is checked in the PodMetrics too.
	usage := map[string]resource.Quantity{}
	for _, c := range []struct {
		pod, container string
		showsMemory    bool
	}{{static, "web", false}, {busy, "spin", true}} {
		waitFor(t, 2*time.Minute, "kubectl top pod "+c.pod+" --containers", func() (bool, string) {
			out, err := k.cp.Kubectl(k.ctx, "top", "pod", c.pod, "--containers", "-n", "default")
			if err != nil {
				return false, err.Error()
			}
			r := topRows(out)[c.pod]
			if r == nil || r["NAME"] != c.container {
				return false, "no row for the pod's container in\n" + out
			}
			cpu, err := resource.ParseQuantity(r["CPU(cores)"])
			if err != nil {
				t.Fatalf("kubectl top pod %s: CPU %q: %v\n%s", c.pod, r["CPU(cores)"], err, out)
			}
			if mem, err := resource.ParseQuantity(r["MEMORY(bytes)"]); err != nil || c.showsMemory && mem.Value() <= 0 {
				t.Fatalf("kubectl top pod %s: memory %q (%v)\n%s", c.pod, r["MEMORY(bytes)"], err, out)
			}
			usage[c.pod] = cpu
			t.Logf("kubectl top pod %s --containers:\n%s", c.pod, out)
			return true, ""
		})
		checkPodMetrics(t, k, c.pod, c.container)
	}
	idle, spin := usage[static], usage[busy]
	// The cap is 200m; on a loaded host the pod's cgroup may get less (its
	// agent's cgroup root competes with everything else on 2 cores).
	if spin.MilliValue() < 20 || spin.MilliValue() < 4*idle.MilliValue()+10 {
		t.Errorf("CPU of the busy container %s (cap 200m) vs the idle one %s: want at least 20m and 4 times the idle one plus 10m", spin.String(), idle.String())
	}
	t.Logf("metrics-server: APIService Available %v after its start, both nodes in kubectl top %v, both pods %v (load %s)",
		tAvailable.Round(time.Millisecond), tNodes.Round(time.Millisecond), time.Since(began).Round(time.Millisecond), loadavg())
}

// checkPodMetrics reads the pod's PodMetrics from metrics.k8s.io: the
// container with memory above 0 and a CPU quantity, over a window of a
// scrape or more (an idle container may have used no CPU in it).
func checkPodMetrics(t *testing.T, k kubectl, pod, container string) {
	t.Helper()
	raw := k.run("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/"+pod)
	var pm struct {
		Window     string `json:"window"`
		Containers []struct {
			Name  string            `json:"name"`
			Usage map[string]string `json:"usage"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(raw), &pm); err != nil {
		t.Fatalf("PodMetrics of %s: %v\n%s", pod, err, raw)
	}
	if len(pm.Containers) != 1 || pm.Containers[0].Name != container {
		t.Fatalf("PodMetrics of %s: containers %+v, want only %s", pod, pm.Containers, container)
	}
	cpu, cerr := resource.ParseQuantity(pm.Containers[0].Usage["cpu"])
	mem, merr := resource.ParseQuantity(pm.Containers[0].Usage["memory"])
	window, werr := time.ParseDuration(pm.Window)
	if cerr != nil || merr != nil || werr != nil || cpu.Sign() < 0 || mem.Sign() <= 0 || window < 5*time.Second {
		t.Errorf("PodMetrics of %s: %s, want a cpu quantity and memory above 0 over a window of a scrape (10s)", pod, raw)
	}
	t.Logf("PodMetrics of %s: %s %v over %s", pod, container, pm.Containers[0].Usage, pm.Window)
}

// topRows parses kubectl top's table: by the first column, the row's
// cells by header.
func topRows(out string) map[string]map[string]string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	rows := map[string]map[string]string{}
	if len(lines) < 2 {
		return rows
	}
	header := strings.Fields(lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != len(header) {
			continue
		}
		r := map[string]string{}
		for i, h := range header {
			r[h] = f[i]
		}
		rows[f[0]] = r
	}
	return rows
}

// waitGoneFromNode waits until the kubelet server no longer lists pod
// (its containers are gone), so that none outlives the agent.
func waitGoneFromNode(t *testing.T, kc *http.Client, base, pod string) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		code, body := httpGet(kc, base+"/pods", "")
		if code == 200 && !strings.Contains(body, `"name":"`+pod+`"`) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("pod %s still on the node 2m after its deletion", pod)
}

func TestTopRows(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      map[string]map[string]string
	}{
		{"empty", "", map[string]map[string]string{}},
		{"header only", "NAME   CPU(cores)\n", map[string]map[string]string{}},
		{"nodes", "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \nmsrv-a   613m         30%      3632Mi          15%         \nmsrv-b   650m         32%      3632Mi          15%\n",
			map[string]map[string]string{
				"msrv-a": {"NAME": "msrv-a", "CPU(cores)": "613m", "CPU(%)": "30%", "MEMORY(bytes)": "3632Mi", "MEMORY(%)": "15%"},
				"msrv-b": {"NAME": "msrv-b", "CPU(cores)": "650m", "CPU(%)": "32%", "MEMORY(bytes)": "3632Mi", "MEMORY(%)": "15%"},
			}},
		// With --containers the first column is POD, NAME the container's.
		{"containers", "POD         NAME   CPU(cores)   MEMORY(bytes)   \nksrv-busy   spin   201m         8Mi\n",
			map[string]map[string]string{"ksrv-busy": {"POD": "ksrv-busy", "NAME": "spin", "CPU(cores)": "201m", "MEMORY(bytes)": "8Mi"}}},
		{"ragged row skipped", "NAME   CPU(cores)\nmsrv-a\nmsrv-b   1m\n",
			map[string]map[string]string{"msrv-b": {"NAME": "msrv-b", "CPU(cores)": "1m"}}},
	} {
		if got := topRows(tc.out); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: topRows = %v, want %v", tc.name, got, tc.want)
		}
	}
}
