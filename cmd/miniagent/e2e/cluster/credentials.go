package cluster

// The control plane's certificates, keys and kubeconfigs.

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// credentials are the files the control plane's flags name.
type credentials struct {
	ca                    string
	apiserver, kcm, sched keyPair
	kubeletClient         keyPair
	// The aggregation layer: the front proxy's own CA and the client
	// certificate the apiserver proxies to extension apiservers with.
	frontProxyCA    string
	proxyClient     keyPair
	saKey, saPub    string
	kcmKubeconfig   string
	schedKubeconfig string
}

func (cp *ControlPlane) writeCredentials() (credentials, error) {
	p, err := newPKI(cp.Dir)
	if err != nil {
		return credentials{}, err
	}
	c := credentials{ca: p.caFile()}
	cp.pki, cp.CAFile = p, p.caFile()
	issue := func(kp *keyPair, name, cn string, orgs []string, hosts ...string) {
		if err == nil {
			*kp, err = p.issue(name, cn, orgs, hosts...)
		}
	}
	issue(&c.apiserver, "apiserver", "kube-apiserver", nil, "127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
	issue(&c.kcm, "kcm-serving", "kube-controller-manager", nil, "127.0.0.1", "localhost")
	issue(&c.sched, "scheduler-serving", "kube-scheduler", nil, "127.0.0.1", "localhost")
	issue(&c.kubeletClient, "apiserver-kubelet-client", "kube-apiserver-kubelet-client", nil)
	var admin, kcmClient, schedClient keyPair
	issue(&admin, "admin", "admin", []string{"system:masters"})
	issue(&kcmClient, "kcm-client", "system:kube-controller-manager", nil)
	issue(&schedClient, "scheduler-client", "system:kube-scheduler", nil)
	nodes := map[string]keyPair{}
	for _, n := range cp.cfg.Nodes {
		var kp keyPair
		issue(&kp, "node-"+n, "system:node:"+n, []string{"system:nodes"})
		nodes[n] = kp
	}
	if err != nil {
		return c, err
	}
	cp.KubeletClient = c.kubeletClient
	fp, err := newNamedPKI(filepath.Join(cp.Dir, "front-proxy"), "miniagent-e2e-front-proxy-ca")
	if err != nil {
		return c, err
	}
	c.frontProxyCA = fp.caFile()
	if c.proxyClient, err = fp.issue("front-proxy-client", frontProxyUser, nil); err != nil {
		return c, err
	}
	if c.saKey, c.saPub, err = p.serviceAccountKey(); err != nil {
		return c, err
	}
	write := func(name, user string, kp keyPair) (string, error) {
		path := filepath.Join(cp.Dir, name+".kubeconfig")
		return path, writeKubeconfig(path, cp.ServerURL, p.caPEM, user, kp)
	}
	if cp.AdminKubeconfig, err = write("admin", "admin", admin); err != nil {
		return c, err
	}
	if c.kcmKubeconfig, err = write("kcm", "system:kube-controller-manager", kcmClient); err != nil {
		return c, err
	}
	if c.schedKubeconfig, err = write("scheduler", "system:kube-scheduler", schedClient); err != nil {
		return c, err
	}
	for n, kp := range nodes {
		if cp.NodeKubeconfigs[n], err = write("node-"+n, "system:node:"+n, kp); err != nil {
			return c, err
		}
	}
	return c, nil
}

func writeKubeconfig(path, server string, ca []byte, user string, kp keyPair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: user}
	cfg.CurrentContext = "e2e"
	return clientcmd.WriteToFile(*cfg, path)
}

// IssueServing signs a serving certificate for hosts (a kubelet's
// --tls-cert-file and --tls-private-key-file).
func (cp *ControlPlane) IssueServing(name string, hosts ...string) (certFile, keyFile string, err error) {
	kp, err := cp.pki.issue(name, name, nil, hosts...)
	return kp.CertFile, kp.KeyFile, err
}

// adminTLS is the admin's client certificate and the CA, for health checks.
func (cp *ControlPlane) adminTLS() (*tls.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.AdminKubeconfig)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cfg.CAData)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil
}
