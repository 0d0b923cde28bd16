package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Config describes the control plane to start.
type Config struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler and kubectl (and metrics-server for
	// StartMetricsServer).
	BinDir string
	// BasePort is the first of the ports used: etcd client and peer,
	// apiserver, controller manager, scheduler (BasePort..BasePort+4).
	BasePort int
	// Nodes get a kubeconfig each, as system:node:<name>.
	Nodes []string
	// NodeMonitorGracePeriod is the controller manager's
	// --node-monitor-grace-period (0 = its default, 50 s).
	NodeMonitorGracePeriod time.Duration
	// Logf reports progress (nil: silent).
	Logf func(format string, args ...any)
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	Dir       string // everything lives below; Stop removes it
	ServerURL string
	// AdminKubeconfig is system:masters; NodeKubeconfigs by node name.
	AdminKubeconfig string
	NodeKubeconfigs map[string]string
	// CAFile signs every certificate (give it to the agents as
	// --client-ca-file). KubeletClient is the apiserver's client
	// certificate for kubelets (--kubelet-client-certificate): user
	// kube-apiserver-kubelet-client, bound to system:kubelet-api-admin.
	CAFile        string
	KubeletClient keyPair
	cfg           Config
	pki           *pki
	creds         credentials // for StartAPIServer
	procs         []*process  // in start order
}

// process is one control-plane binary.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// frontProxyUser is the CN of the apiserver's proxy client certificate,
// the one name extension apiservers accept X-Remote-* headers from.
const frontProxyUser = "front-proxy-client"

// Binaries are the control-plane commands Config.BinDir must hold.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"}

// Start generates the certificates and kubeconfigs and starts etcd, the
// apiserver, the controller manager and the scheduler, each waited for
// until healthy. On error everything started is stopped and removed.
func Start(ctx context.Context, cfg Config) (_ *ControlPlane, err error) {
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			return nil, fmt.Errorf("control plane binary %s missing (build them with scripts/build-control-plane.sh): %w", b, err)
		}
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	dir, err := os.MkdirTemp("", "miniagent-cp-")
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{Dir: dir, cfg: cfg, NodeKubeconfigs: map[string]string{},
		ServerURL: fmt.Sprintf("https://127.0.0.1:%d", cfg.BasePort+2)}
	defer func() {
		if err != nil {
			err = errors.Join(err, cp.Stop())
		}
	}()
	certs, err := cp.writeCredentials()
	if err != nil {
		return nil, err
	}
	cp.creds = certs
	if err := cp.startEtcd(ctx); err != nil {
		return nil, err
	}
	if err := cp.startAPIServer(ctx, certs); err != nil {
		return nil, err
	}
	if err := cp.bindKubeletClient(ctx); err != nil {
		return nil, err
	}
	if err := cp.startControllers(ctx, certs); err != nil {
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) port(i int) string { return strconv.Itoa(cp.cfg.BasePort + i) }

func (cp *ControlPlane) startEtcd(ctx context.Context) error {
	client, peer := "http://127.0.0.1:"+cp.port(0), "http://127.0.0.1:"+cp.port(1)
	if err := cp.start("etcd", "--name", "e2e", "--data-dir", filepath.Join(cp.Dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "e2e="+peer, "--log-level", "warn"); err != nil {
		return err
	}
	return cp.waitHealthy(ctx, "etcd", client+"/health", nil)
}

func (cp *ControlPlane) startAPIServer(ctx context.Context, c credentials) error {
	if err := cp.start("kube-apiserver",
		"--etcd-servers", "http://127.0.0.1:"+cp.port(0),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", cp.port(2),
		"--tls-cert-file", c.apiserver.CertFile, "--tls-private-key-file", c.apiserver.KeyFile,
		"--client-ca-file", c.ca,
		"--kubelet-client-certificate", c.kubeletClient.CertFile, "--kubelet-client-key", c.kubeletClient.KeyFile,
		// The Nodes' Hostname address is the node name, which does not
		// resolve; kubelets' serving certificates are self-signed, so
		// not verified (no --kubelet-certificate-authority, as kubeadm).
		"--kubelet-preferred-address-types", "InternalIP",
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--service-account-key-file", c.saPub, "--service-account-signing-key-file", c.saKey,
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// The kubernetes Service's endpoints would be 127.0.0.1, which
		// Endpoints validation rejects; nothing in the tests needs them.
		"--endpoint-reconciler-type", "none",
		// The aggregation layer (metrics-server's metrics.k8s.io): the
		// apiserver proxies as front-proxy-client with the user in
		// X-Remote-* headers, straight to the APIService's endpoint
		// (there is no kube-proxy for its Service's cluster IP).
		"--requestheader-client-ca-file", c.frontProxyCA, "--requestheader-allowed-names", frontProxyUser,
		"--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", c.proxyClient.CertFile, "--proxy-client-key-file", c.proxyClient.KeyFile,
		"--enable-aggregator-routing=true",
		"--allow-privileged=true", "--profiling=false",
		"--cert-dir", filepath.Join(cp.Dir, "apiserver-certs")); err != nil {
		return err
	}
	tlsCfg, err := cp.adminTLS()
	if err != nil {
		return err
	}
	return cp.waitHealthy(ctx, "kube-apiserver", cp.ServerURL+"/readyz", tlsCfg)
}

func (cp *ControlPlane) startControllers(ctx context.Context, c credentials) error {
	kcm := []string{
		"--kubeconfig", c.kcmKubeconfig,
		"--authentication-kubeconfig", c.kcmKubeconfig, "--authorization-kubeconfig", c.kcmKubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", cp.port(3),
		"--tls-cert-file", c.kcm.CertFile, "--tls-private-key-file", c.kcm.KeyFile,
		"--client-ca-file", c.ca,
		"--service-account-private-key-file", c.saKey, "--root-ca-file", c.ca,
		"--use-service-account-credentials=true", "--leader-elect=false",
		"--node-monitor-period", "2s",
	}
	if g := cp.cfg.NodeMonitorGracePeriod; g > 0 {
		kcm = append(kcm, "--node-monitor-grace-period", g.String())
	}
	if err := cp.start("kube-controller-manager", kcm...); err != nil {
		return err
	}
	if err := cp.start("kube-scheduler",
		"--kubeconfig", c.schedKubeconfig,
		"--authentication-kubeconfig", c.schedKubeconfig, "--authorization-kubeconfig", c.schedKubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", cp.port(4),
		"--tls-cert-file", c.sched.CertFile, "--tls-private-key-file", c.sched.KeyFile,
		"--client-ca-file", c.ca, "--leader-elect=false"); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(c.ca)
	if err != nil {
		return err
	}
	pool.AppendCertsFromPEM(ca)
	tlsCfg := &tls.Config{RootCAs: pool}
	if err := cp.waitHealthy(ctx, "kube-controller-manager", "https://127.0.0.1:"+cp.port(3)+"/healthz", tlsCfg); err != nil {
		return err
	}
	return cp.waitHealthy(ctx, "kube-scheduler", "https://127.0.0.1:"+cp.port(4)+"/healthz", tlsCfg)
}

// bindKubeletClient lets the apiserver's kubelet client identity use the
// kubelet API (nodes/proxy, stats, log, metrics), as kubeadm binds it.
func (cp *ControlPlane) bindKubeletClient(ctx context.Context) error {
	client, err := cp.AdminClient()
	if err != nil {
		return err
	}
	_, err = client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "miniagent-e2e:kubelet-api-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "kube-apiserver-kubelet-client"}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("bind the apiserver's kubelet client to system:kubelet-api-admin: %w", err)
	}
	return nil
}

// AdminClient is a client-go clientset as system:masters.
func (cp *ControlPlane) AdminClient() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.AdminKubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Kubectl runs the built kubectl with the admin kubeconfig; the error
// carries its output.
func (cp *ControlPlane) Kubectl(ctx context.Context, args ...string) (string, error) {
	return cp.KubectlAs(ctx, cp.AdminKubeconfig, args...)
}

// KubectlAs is Kubectl with another kubeconfig (a node's, say).
func (cp *ControlPlane) KubectlAs(ctx context.Context, kubeconfig string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(cp.cfg.BinDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

// start runs one binary in its own process group, its output in a log file
// beside it; the process dies with the test binary (Pdeathsig).
func (cp *ControlPlane) start(name string, args ...string) error {
	log := filepath.Join(cp.Dir, name+".log")
	// Appended: a restarted component keeps its earlier log.
	f, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(filepath.Join(cp.cfg.BinDir, name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	cp.procs = append(cp.procs, p)
	cp.cfg.Logf("started %s (pid %d), log %s", name, cmd.Process.Pid, log)
	return nil
}

// waitHealthy polls url until it answers 200, the process exits or 2
// minutes pass.
func (cp *ControlPlane) waitHealthy(ctx context.Context, name, url string, tlsCfg *tls.Config) error {
	p := cp.procs[len(cp.procs)-1]
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer client.CloseIdleConnections()
	start := time.Now()
	var last string
	for time.Since(start) < 2*time.Minute {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cp.cfg.Logf("%s healthy after %v", name, time.Since(start).Round(time.Millisecond))
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited during start-up: %v\n%s", name, p.cmd.ProcessState, tail(p.log, 30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not healthy at %s after 2m: %s\n%s", name, url, last, tail(p.log, 30))
}

// StopAPIServer kills kube-apiserver (SIGKILL, as a crash or a lost
// host would end it; its graceful shutdown takes longer than a test
// wants); etcd, the controller manager and the scheduler keep running.
func (cp *ControlPlane) StopAPIServer() error {
	for i, p := range cp.procs {
		if p.name != "kube-apiserver" {
			continue
		}
		cp.procs = append(cp.procs[:i:i], cp.procs[i+1:]...)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		return nil
	}
	return errors.New("kube-apiserver is not running")
}

// StartAPIServer starts kube-apiserver again, with the same flags,
// certificates and port, and waits until it is ready.
func (cp *ControlPlane) StartAPIServer(ctx context.Context) error {
	return cp.startAPIServer(ctx, cp.creds)
}

// Logs returns the last n lines of a component's log.
func (cp *ControlPlane) Logs(name string, n int) string {
	return tail(filepath.Join(cp.Dir, name+".log"), n)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop ends the processes in reverse order (SIGTERM, SIGKILL after 15 s),
// and removes the directory. Set MINIAGENT_E2E_KEEP to keep it.
func (cp *ControlPlane) Stop() error {
	var errs []error
	for i := len(cp.procs) - 1; i >= 0; i-- {
		p := cp.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
			errs = append(errs, fmt.Errorf("%s ignored SIGTERM for 15s and was killed", p.name))
		}
	}
	cp.procs = nil
	if os.Getenv("MINIAGENT_E2E_KEEP") != "" {
		cp.cfg.Logf("kept %s", cp.Dir)
	} else if err := os.RemoveAll(cp.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
