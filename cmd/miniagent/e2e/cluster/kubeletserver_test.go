package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// webScript prints three lines and serves "hello-from-pod" on the pod's
// loopback port 8080.
const webScript = `mkdir -p /www && echo hello-from-pod > /www/index.html && echo line1 && echo line2 && echo line3 && exec httpd -f -p 127.0.0.1:8080 -h /www`

func webPod(name, node string) string {
	nodeName := ""
	if node != "" {
		nodeName = "  nodeName: " + node + "\n"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: default
spec:
%s  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
`, name, nodeName, webScript)
}

// TestClusterKubeletServer checks the kubelet server on --port against a
// real control plane: the apiserver's kubelet-client certificate is
// accepted (and authorised through system:kubelet-api-admin), no
// credentials are 401, a service account token without RBAC is 403 and one
// with nodes/proxy only reaches /pods but not /stats; logs, exec,
// port-forward, /pods, /stats/summary and the metrics work directly, and
// logs and port-forward through the apiserver's nodes/proxy path; the self-signed certificate
// and a --tls-cert-file one are served. The pod is a static pod, addressed
// by its namespace and name. Then kubectl logs -f, exec and port-forward
// on a pod of the apiserver running on the node (see kubectlStreams), and
// kubectl top through a real metrics-server (see kubectlTop).
func TestClusterKubeletServer(t *testing.T) {
	e := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nodeA, nodeB := e.prefix+"-a", e.prefix+"-b"
	portA, portB := e.basePort+10, e.basePort+11
	cp, err := Start(ctx, Config{BinDir: e.binDir, BasePort: e.basePort, Nodes: []string{nodeA, nodeB}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver log:\n%s", cp.Logs("kube-apiserver", 30))
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	dir := t.TempDir()
	bin := buildAgent(t, e.repo, dir)
	importBusybox(t, e.repo, bin, dir, nodeA)

	manifests := filepath.Join(dir, "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(manifests, "web.yaml")
	if err := os.WriteFile(manifest, []byte(webPod("web", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	// The apiserver's nodes/proxy refuses loopback addresses: node A
	// has the host's address (the later --node-ip wins).
	ipA := hostAddress(t)
	a := newAgent(t, bin, nodeA, cp.NodeKubeconfigs[nodeA], portA, "--node-ip", ipA,
		"--client-ca-file", cp.CAFile, "--pod-manifest-path", manifests, "--node-status-update-frequency", "2s")
	certB, keyB, err := cp.IssueServing("kubelet-"+nodeB, "127.0.0.1", nodeB)
	if err != nil {
		t.Fatal(err)
	}
	newAgent(t, bin, nodeB, cp.NodeKubeconfigs[nodeB], portB,
		"--client-ca-file", cp.CAFile, "--tls-cert-file", certB, "--tls-private-key-file", keyB)

	kc := kubeletClient(t, cp)
	base := "https://" + net.JoinHostPort(ipA, strconv.Itoa(portA))
	static := "web-" + nodeA
	// The static pod is removed before the agent stops (its cleanup runs
	// after this one), so no container outlives the test.
	t.Cleanup(func() { removeStaticPod(t, kc, base, manifest, static) })

	waitFor(t, 90*time.Second, "static pod running, as the kubelet server shows it", func() (bool, string) {
		code, body := httpGet(kc, base+"/pods", "")
		if code != 200 {
			return false, fmt.Sprintf("%d %s", code, body)
		}
		var list v1.PodList
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			return false, err.Error()
		}
		for _, p := range list.Items {
			if p.Name == static && p.Namespace == "default" && p.Status.Phase == v1.PodRunning {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d pods: %.300s", len(list.Items), body)
	})

	// Authentication and authorisation.
	if code, body := httpGet(kc, base+"/healthz", ""); code != 200 || body != "ok" {
		t.Errorf("/healthz with the apiserver's kubelet-client certificate: %d %q", code, body)
	}
	anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed on purpose
	if code, body := httpGet(anon, base+"/pods", ""); code != http.StatusUnauthorized {
		t.Errorf("/pods without credentials: %d %q, want 401", code, body)
	}
	k := kubectl{t: t, ctx: ctx, cp: cp}
	k.run("create", "serviceaccount", "ksrv-nobody", "-n", "default")
	k.run("create", "serviceaccount", "ksrv-proxy", "-n", "default")
	k.run("create", "clusterrole", "ksrv-nodes-proxy", "--verb=get", "--resource=nodes/proxy")
	k.run("create", "clusterrolebinding", "ksrv-nodes-proxy", "--clusterrole=ksrv-nodes-proxy", "--serviceaccount=default:ksrv-proxy")
	nobody := strings.TrimSpace(k.run("create", "token", "ksrv-nobody", "-n", "default"))
	proxyOnly := strings.TrimSpace(k.run("create", "token", "ksrv-proxy", "-n", "default"))
	if code, body := httpGet(anon, base+"/pods", nobody); code != http.StatusForbidden || !strings.Contains(body, "user=system:serviceaccount:default:ksrv-nobody, verb=get, resource=nodes, subresource(s)=[pods proxy]") {
		t.Errorf("/pods with a token without RBAC: %d %q, want 403 naming the user", code, body)
	}
	if code, body := httpGet(anon, base+"/pods", proxyOnly); code != 200 || !strings.Contains(body, static) {
		t.Errorf("/pods with nodes/proxy: %d %.200q, want 200", code, body)
	}
	if code, body := httpGet(anon, base+"/stats/summary", proxyOnly); code != http.StatusForbidden || !strings.Contains(body, "subresource(s)=[stats]") {
		t.Errorf("/stats/summary with nodes/proxy only: %d %q, want 403", code, body)
	}
	if code, body := httpGet(anon, base+"/pods", "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("/pods with a bad token: %d %q, want 401", code, body)
	}

	// The endpoints, directly.
	if code, body := httpGet(kc, base+"/containerLogs/default/"+static+"/web?tailLines=2", ""); code != 200 || body != "line2\nline3\n" {
		t.Errorf("containerLogs tailLines=2: %d %q", code, body)
	}
	if code, body := httpGet(kc, base+"/containerLogs/default/"+static+"/web?limitBytes=3&timestamps=true", ""); code != 200 || len(body) != 3 {
		t.Errorf("containerLogs limitBytes=3: %d %q", code, body)
	}
	if code, body := httpGet(kc, base+"/containerLogs/default/nope/web", ""); code != 404 || !strings.Contains(body, `pod "nope" does not exist`) {
		t.Errorf("containerLogs of a missing pod: %d %q", code, body)
	}
	direct := &rest.Config{Host: base, TLSClientConfig: rest.TLSClientConfig{Insecure: true, CertFile: cp.KubeletClient.CertFile, KeyFile: cp.KubeletClient.KeyFile}}
	began := time.Now()
	if out, err := execIn(ctx, direct, "/exec/default/"+static+"/web?command=cat&command=/www/index.html&output=1&error=1"); err != nil || out != "hello-from-pod\n" {
		t.Errorf("exec directly: %q %v", out, err)
	}
	tExec := time.Since(began)
	began = time.Now()
	if got, err := forwardGet(ctx, direct, "/portForward/default/"+static); err != nil || got != "hello-from-pod\n" {
		t.Errorf("port-forward directly: %q %v", got, err)
	}
	tForward := time.Since(began)
	began = time.Now()
	checkStats(t, kc, base, static)
	t.Logf("directly: exec %v, port-forward GET %v, stats+metrics %v (load %s)", tExec.Round(time.Millisecond), tForward.Round(time.Millisecond),
		time.Since(began).Round(time.Millisecond), loadavg())

	// Through the apiserver's nodes/proxy path (its kubelet-client identity).
	admin, err := clientcmd.BuildConfigFromFlags("", cp.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	proxy := "/api/v1/nodes/" + nodeA + "/proxy"
	if out := k.run("get", "--raw", proxy+"/containerLogs/default/"+static+"/web?tailLines=1"); out != "line3\n" {
		t.Errorf("logs through the apiserver: %q", out)
	}
	if out := k.run("get", "--raw", proxy+"/healthz"); out != "ok" {
		t.Errorf("healthz through the apiserver: %q", out)
	}
	viaAPI := rest.CopyConfig(admin)
	viaAPI.Host = cp.ServerURL + proxy
	// exec and attach cannot go through nodes/proxy: the apiserver's
	// upgrade path drops the query (the command); they go through
	// pods/exec in the kubectl part.
	if got, err := forwardGet(ctx, viaAPI, "/portForward/default/"+static); err != nil || got != "hello-from-pod\n" {
		t.Errorf("port-forward through the apiserver: %q %v", got, err)
	}

	// Serving certificates: the self-signed one covers the node IP and
	// name; --tls-cert-file is served as given.
	selfSigned, _ := filepath.Glob(filepath.Join(a.dir, "root", "pki", "kubelet.crt"))
	if len(selfSigned) != 1 {
		t.Fatalf("no self-signed certificate under %s", filepath.Join(a.dir, "root", "pki"))
	}
	checkServing(t, base, selfSigned[0], ipA, nodeA)
	checkServing(t, fmt.Sprintf("https://127.0.0.1:%d", portB), cp.CAFile, "127.0.0.1", nodeB)

	t.Run("kubectl", func(t *testing.T) { kubectlStreams(t, k, nodeA, static) })
	t.Run("top", func(t *testing.T) { kubectlTop(t, k, e, kc, base, nodeA, nodeB, static, selfSigned[0]) })
}

// kubectlStreams runs kubectl logs -f, exec and port-forward on a pod of
// the apiserver running on node: the static pod's mirror pod, or a pod
// bound to the node; when the apiserver has neither (pods from the
// apiserver and mirror pods are other branches' work), on a stand-in for
// the mirror pod created by the admin.
func kubectlStreams(t *testing.T, k kubectl, node, static string) {
	k.t = t
	bound := "ksrv-bound"
	apply := exec.CommandContext(k.ctx, filepath.Join(k.cp.cfg.BinDir, "kubectl"), "--kubeconfig", k.cp.AdminKubeconfig, "apply", "-f", "-")
	apply.Stdin = strings.NewReader(webPod(bound, node))
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	defer func() {
		_, _ = k.cp.Kubectl(context.Background(), "delete", "pod", bound, "-n", "default", "--grace-period=0", "--force", "--wait=false")
	}()
	pod := ""
	deadline := time.Now().Add(45 * time.Second)
	for pod == "" && time.Now().Before(deadline) {
		for _, name := range []string{static, bound} {
			out, err := k.cp.Kubectl(k.ctx, "get", "pod", name, "-n", "default", "-o", "jsonpath={.status.phase}")
			if err == nil && out == "Running" {
				pod = name
				break
			}
		}
		time.Sleep(time.Second)
	}
	if pod == "" {
		// Neither pods from the apiserver nor mirror pods are on this
		// branch: stand in for the mirror pod (same namespace and name as
		// the static pod, bound to the node, status Running) so that
		// kubectl -> apiserver -> kubelet server -> agent is exercised.
		if out, err := k.cp.Kubectl(k.ctx, "get", "pod", static, "-n", "default", "-o", "name"); err == nil {
			t.Skipf("the mirror pod %s exists but is not Running: %s", static, out)
		}
		t.Logf("no pod of node %s running in the apiserver after 45s (neither the mirror pod %s nor %s bound to the node): "+
			"standing in for the mirror pod", node, static, bound)
		standIn := exec.CommandContext(k.ctx, filepath.Join(k.cp.cfg.BinDir, "kubectl"), "--kubeconfig", k.cp.AdminKubeconfig, "create", "-f", "-")
		standIn.Stdin = strings.NewReader(webPod(static, node))
		if out, err := standIn.CombinedOutput(); err != nil {
			t.Fatalf("create the stand-in pod: %v\n%s", err, out)
		}
		defer func() {
			_, _ = k.cp.Kubectl(context.Background(), "delete", "pod", static, "-n", "default", "--grace-period=0", "--force", "--wait=false")
		}()
		k.run("patch", "pod", static, "-n", "default", "--subresource=status", "--type=merge", "-p", `{"status":{"phase":"Running"}}`)
		pod = static
	}
	t.Logf("kubectl streams on pod %s", pod)
	// kubectl logs -f: the lines arrive while the container runs.
	lctx, lcancel := context.WithTimeout(k.ctx, 30*time.Second)
	defer lcancel()
	logs := exec.CommandContext(lctx, filepath.Join(k.cp.cfg.BinDir, "kubectl"), "--kubeconfig", k.cp.AdminKubeconfig, "logs", "-f", pod, "-n", "default")
	stdout, _ := logs.StdoutPipe()
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if seen = append(seen, sc.Text()); sc.Text() == "line3" {
			break
		}
	}
	lcancel()
	_ = logs.Wait()
	if strings.Join(seen, ",") != "line1,line2,line3" {
		t.Errorf("kubectl logs -f: %q", seen)
	}
	began := time.Now()
	if out := k.run("exec", pod, "-n", "default", "--", "cat", "/www/index.html"); out != "hello-from-pod\n" {
		t.Errorf("kubectl exec: %q", out)
	}
	t.Logf("kubectl exec (process start included): %v (load %s)", time.Since(began).Round(time.Millisecond), loadavg())
	if out, err := k.cp.Kubectl(k.ctx, "exec", pod, "-n", "default", "--", "sh", "-c", "exit 3"); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("kubectl exec exit 3: %v %s", err, out)
	}
	pctx, pcancel := context.WithTimeout(k.ctx, 30*time.Second)
	defer pcancel()
	pf := exec.CommandContext(pctx, filepath.Join(k.cp.cfg.BinDir, "kubectl"), "--kubeconfig", k.cp.AdminKubeconfig, "port-forward", "-n", "default", "pod/"+pod, ":8080")
	pfOut, _ := pf.StdoutPipe()
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { pcancel(); _ = pf.Wait() }()
	line, _ := bufio.NewReader(pfOut).ReadString('\n')
	m := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 8080`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("kubectl port-forward printed %q", line)
	}
	resp, err := http.Get("http://127.0.0.1:" + m[1] + "/")
	if err != nil {
		t.Fatalf("GET through kubectl port-forward: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello-from-pod\n" {
		t.Errorf("through kubectl port-forward: %q", body)
	}
}
