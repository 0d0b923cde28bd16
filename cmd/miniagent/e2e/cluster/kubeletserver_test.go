package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/cert"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
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
// on a pod of the apiserver running on the node (see kubectlStreams).
func TestClusterKubeletServer(t *testing.T) {
	e := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
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

// loadavg is the 1-minute load average, for the timing logs.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// hostAddress is the host's first global unicast IPv4 address.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
			return ipn.IP.String()
		}
	}
	t.Skip("the host has no global IPv4 address: the apiserver's nodes/proxy refuses loopback nodes")
	return ""
}

// kubeletClient is an HTTPS client with the apiserver's kubelet-client
// certificate (it does not verify the self-signed serving certificate,
// as the apiserver without --kubelet-certificate-authority).
func kubeletClient(t *testing.T, cp *ControlPlane) *http.Client {
	t.Helper()
	c, err := tls.LoadX509KeyPair(cp.KubeletClient.CertFile, cp.KubeletClient.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{c}, InsecureSkipVerify: true}}} //nolint:gosec // self-signed on purpose
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func httpGet(c *http.Client, u, token string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// execIn runs a command over SPDY at cfg.Host+path; it returns stdout.
func execIn(ctx context.Context, cfg *rest.Config, path string) (string, error) {
	u, err := url.Parse(cfg.Host + path)
	if err != nil {
		return "", err
	}
	ex, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, u)
	if err != nil {
		return "", err
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}); err != nil {
		return out.String(), fmt.Errorf("%w (stderr %q)", err, errOut.String())
	}
	return out.String(), nil
}

// forwardGet forwards a local port to the pod's 8080 over SPDY at
// cfg.Host+path and GETs / through it.
func forwardGet(ctx context.Context, cfg *rest.Config, path string) (string, error) {
	rt, up, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(cfg.Host + path)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddressesWithContext(ctx, spdy.NewDialer(up, &http.Client{Transport: rt}, http.MethodPost, u),
		[]string{"127.0.0.1"}, []string{"0:8080"}, ready, io.Discard, io.Discard)
	if err != nil {
		return "", err
	}
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return "", fmt.Errorf("port-forward: %w", err)
	}
	defer func() { cancel(); <-errc }()
	ports, err := pf.GetPorts()
	if err != nil {
		return "", err
	}
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))) + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// checkStats checks /stats/summary, /metrics/resource and /metrics.
func checkStats(t *testing.T, kc *http.Client, base, pod string) {
	t.Helper()
	code, body := httpGet(kc, base+"/stats/summary", "")
	var sum statsv1alpha1.Summary
	if err := json.Unmarshal([]byte(body), &sum); code != 200 || err != nil {
		t.Fatalf("/stats/summary: %d %v %.300s", code, err, body)
	}
	found := false
	for _, p := range sum.Pods {
		if p.PodRef.Name == pod && len(p.Containers) == 1 && p.Containers[0].Memory != nil && *p.Containers[0].Memory.WorkingSetBytes > 0 && !p.StartTime.IsZero() {
			found = true
		}
	}
	if !found || sum.Node.CPU == nil || sum.Node.Memory == nil || sum.Node.StartTime.IsZero() {
		t.Errorf("/stats/summary lacks the node's or %s's use: %.600s", pod, body)
	}
	code, body = httpGet(kc, base+"/metrics/resource", "")
	for _, want := range []string{"node_cpu_usage_seconds_total ", "node_memory_working_set_bytes ", "resource_scrape_error 0",
		`container_memory_working_set_bytes{container="web",namespace="default",pod="` + pod + `"}`,
		`container_cpu_usage_seconds_total{container="web",namespace="default",pod="` + pod + `"}`,
		`container_start_time_seconds{container="web",namespace="default",pod="` + pod + `"}`,
		`pod_memory_working_set_bytes{namespace="default",pod="` + pod + `"}`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics/resource (%d) lacks %q", code, want)
		}
	}
	if code, body := httpGet(kc, base+"/metrics", ""); code != 200 || !strings.Contains(body, "kubelet_running_pods ") {
		t.Errorf("/metrics: %d, kubelet_running_pods missing", code)
	}
}

// checkServing connects to base verifying its certificate against the
// last certificate of rootsFile (the CA) for each host.
func checkServing(t *testing.T, base, rootsFile string, hosts ...string) {
	t.Helper()
	data, err := os.ReadFile(rootsFile)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := cert.ParseCertsPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(certs[len(certs)-1])
	addr := strings.TrimPrefix(base, "https://")
	for _, h := range hosts {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: h})
		if err != nil {
			t.Errorf("serving certificate of %s for %s: %v", base, h, err)
			continue
		}
		conn.Close()
	}
}

// importBusybox imports the busybox image into the node's containerd
// namespace (bin/busybox-image.tar, else built from the host's busybox).
func importBusybox(t *testing.T, repo, bin, dir, namespace string) {
	t.Helper()
	tar := filepath.Join(repo, "bin", "busybox-image.tar")
	if _, err := os.Stat(tar); err != nil {
		tar = filepath.Join(dir, "busybox.tar")
		if out, err := exec.Command("bash", filepath.Join(repo, "scripts", "build-busybox-image.sh"), tar).CombinedOutput(); err != nil {
			t.Fatalf("build busybox image: %v\n%s", err, out)
		}
	}
	args := []string{"image", "import", tar, "--containerd-namespace", namespace}
	if addr := os.Getenv("MINIAGENT_CONTAINERD_ADDRESS"); addr != "" {
		args = append(args, "--containerd-address", addr)
	}
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("import busybox into %s: %v\n%s", namespace, err, out)
	}
	t.Cleanup(func() { purgeNamespace(t, namespace) })
}

// removeStaticPod removes the manifest and waits until the agent no
// longer lists the pod (its containers are gone).
func removeStaticPod(t *testing.T, kc *http.Client, base, manifest, pod string) {
	if err := os.Remove(manifest); err != nil && !os.IsNotExist(err) {
		t.Errorf("remove %s: %v", manifest, err)
	}
	// Generous: on a loaded host containerd's removals can take long, and
	// stopping the agent before the pod is gone would leak its container.
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		code, body := httpGet(kc, base+"/pods", "")
		if code == 200 && !strings.Contains(body, `"name":"`+pod+`"`) {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("static pod %s still listed 3m after its manifest was removed", pod)
}

// purgeNamespace removes what the test left in the containerd namespace
// (its image, content and snapshots) and the namespace itself.
func purgeNamespace(t *testing.T, ns string) {
	addr := os.Getenv("MINIAGENT_CONTAINERD_ADDRESS")
	if addr == "" {
		addr = "/run/containerd/containerd.sock"
	}
	script := `set -u
c() { ctr -a "$ADDR" -n "$NS" "$@"; }
c containers ls -q | xargs -r ctr -a "$ADDR" -n "$NS" containers rm
c images ls -q | xargs -r ctr -a "$ADDR" -n "$NS" images rm
c leases ls -q | xargs -r ctr -a "$ADDR" -n "$NS" leases rm
for i in 1 2 3 4 5; do c snapshots ls | awk 'NR>1{print $1}' | xargs -r ctr -a "$ADDR" -n "$NS" snapshots rm 2>/dev/null; done
c content ls -q | xargs -r ctr -a "$ADDR" -n "$NS" content rm
ctr -a "$ADDR" namespaces rm "$NS"`
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), "ADDR="+addr, "NS="+ns)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("clean-up: containerd namespace %s: %v\n%s", ns, err, out)
	}
}
