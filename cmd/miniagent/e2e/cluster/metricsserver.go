package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// MetricsServerBinary is metrics-server's command in Config.BinDir, built
// by scripts/build-control-plane.sh from tools/k8s. Not in
// Binaries: only the kubectl top test needs it.
const MetricsServerBinary = "metrics-server"

// metricsAPIService is the APIService metrics-server serves.
const metricsAPIService = "v1beta1.metrics.k8s.io"

// MetricsServerConfig describes the metrics-server to start.
type MetricsServerConfig struct {
	// Address is the host's non-loopback address: metrics-server listens
	// there and it is the endpoint of the APIService's Service (the
	// apiserver refuses loopback endpoints).
	Address string
	Port    int
	// KubeletCAFile verifies the kubelets' serving certificates
	// (--kubelet-certificate-authority).
	KubeletCAFile string
	// Resolution is --metric-resolution (at least 10 s).
	Resolution time.Duration
}

// metricsServerObjects are what metrics-server's own manifest makes for
// it, less the Deployment (it runs as a host process of the test): its
// ServiceAccount and RBAC (nodes/metrics to scrape kubelets, pods and
// nodes to list, system:auth-delegator for TokenReviews and
// SubjectAccessReviews, the extension-apiserver-authentication ConfigMap
// in kube-system for the front proxy's CA), a Service without selector
// with an EndpointSlice to the host process, and the APIService.
const metricsServerObjects = `apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics-server, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:metrics-server"}
rules:
- apiGroups: [""]
  resources: [nodes/metrics]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:metrics-server"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:metrics-server"}
subjects: [{kind: ServiceAccount, name: metrics-server, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "metrics-server:system:auth-delegator"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{kind: ServiceAccount, name: metrics-server, namespace: kube-system}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: metrics-server-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{kind: ServiceAccount, name: metrics-server, namespace: kube-system}]
---
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system}
spec:
  ports: [{port: 443, protocol: TCP, targetPort: %[2]d}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: metrics-server-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: metrics-server}
addressType: IPv4
endpoints: [{addresses: ["%[1]s"], conditions: {ready: true}}]
ports: [{name: "", port: %[2]d, protocol: TCP}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: ` + metricsAPIService + `}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {name: metrics-server, namespace: kube-system, port: 443}
  caBundle: %[3]s
`

// StartMetricsServer registers metrics-server with the apiserver (see
// metricsServerObjects), starts it as a host process with a token of its
// ServiceAccount and a serving certificate of the control plane's CA (the
// APIService's caBundle), and waits until the APIService is Available.
// Stop ends it with the rest. Its log: Logs(MetricsServerBinary, n).
func (cp *ControlPlane) StartMetricsServer(ctx context.Context, c MetricsServerConfig) error {
	bin := filepath.Join(cp.cfg.BinDir, MetricsServerBinary)
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s missing (build it with scripts/build-control-plane.sh): %w", bin, err)
	}
	if c.Address == "" || c.Port == 0 || c.KubeletCAFile == "" || c.Resolution < 10*time.Second {
		return fmt.Errorf("metrics-server config %+v: address, port, kubelet CA and a resolution of at least 10s are needed", c)
	}
	caB64, err := base64File(cp.CAFile)
	if err != nil {
		return err
	}
	if err := cp.applyManifest(ctx, fmt.Sprintf(metricsServerObjects, c.Address, c.Port, caB64)); err != nil {
		return fmt.Errorf("register metrics-server: %w", err)
	}
	token, err := cp.Kubectl(ctx, "create", "token", "metrics-server", "-n", "kube-system", "--duration", "2h")
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(cp.Dir, "metrics-server.kubeconfig")
	kc := clientcmdapi.NewConfig()
	caPEM, err := os.ReadFile(cp.CAFile)
	if err != nil {
		return err
	}
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cp.ServerURL, CertificateAuthorityData: caPEM}
	kc.AuthInfos["metrics-server"] = &clientcmdapi.AuthInfo{Token: strings.TrimSpace(token)}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "metrics-server"}
	kc.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		return err
	}
	serving, err := cp.pki.issue("metrics-server-serving", "metrics-server", nil,
		c.Address, "metrics-server.kube-system.svc", "metrics-server.kube-system.svc.cluster.local")
	if err != nil {
		return err
	}
	if err := cp.start(MetricsServerBinary,
		"--bind-address", c.Address, "--secure-port", strconv.Itoa(c.Port),
		"--cert-dir", filepath.Join(cp.Dir, "metrics-server-certs"),
		"--tls-cert-file", serving.CertFile, "--tls-private-key-file", serving.KeyFile,
		"--kubeconfig", kubeconfig,
		"--authentication-kubeconfig", kubeconfig, "--authorization-kubeconfig", kubeconfig,
		// Nodes are reached at their InternalIP on the port they
		// registered; their serving certificates are verified.
		"--kubelet-preferred-address-types", "InternalIP", "--kubelet-use-node-status-port",
		"--kubelet-certificate-authority", c.KubeletCAFile,
		// A scrape must fit in 90 % of the resolution.
		"--metric-resolution", c.Resolution.String(), "--kubelet-request-timeout", (c.Resolution * 8 / 10).String(),
		"--v", "1"); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	base := "https://" + c.Address + ":" + strconv.Itoa(c.Port)
	if err := cp.waitHealthy(ctx, MetricsServerBinary, base+"/livez", &tls.Config{RootCAs: pool}); err != nil {
		return err
	}
	return cp.waitAPIServiceAvailable(ctx, metricsAPIService, 2*time.Minute)
}

// waitAPIServiceAvailable polls the APIService until its Available
// condition is True; the error carries the condition and the log.
func (cp *ControlPlane) waitAPIServiceAvailable(ctx context.Context, name string, timeout time.Duration) error {
	start := time.Now()
	last := ""
	for time.Since(start) < timeout {
		out, err := cp.Kubectl(ctx, "get", "apiservice", name, "-o",
			`jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Available")].message}`)
		if err == nil && strings.HasPrefix(out, "True") {
			cp.cfg.Logf("APIService %s Available after %v", name, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if last = out; err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("APIService %s not Available after %v: %s\nmetrics-server log:\n%s", name, timeout, last, cp.Logs(MetricsServerBinary, 30))
}

// applyManifest is kubectl apply -f - as admin.
func (cp *ControlPlane) applyManifest(ctx context.Context, manifest string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(cp.cfg.BinDir, "kubectl"), "--kubeconfig", cp.AdminKubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl apply: %w: %s", err, out)
	}
	return nil
}

func base64File(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
