package cluster

import (
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
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/cert"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

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
