package kubeapi

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Files under the credentials directory (<root-dir>/kubeapi).
const (
	certFile   = "apiserver.crt" // the serving certificate and its CA
	keyFile    = "apiserver.key"
	tokenFile  = "token"
	serverFile = "server" // the URL the daemon serves, for `miniagent kubeconfig`
)

// Credentials are the serving certificate and the bearer token.
type Credentials struct {
	Cert  tls.Certificate
	CAPEM []byte // the certificate chain, for a kubeconfig's certificate-authority-data
	Token string
}

// EnsureCredentials loads the certificate and token under dir, making
// them first: a self-signed CA and a serving certificate for host (and
// 127.0.0.1, ::1, localhost) from client-go's cert helpers, and a random
// token. dir is 0700, the key and token 0600. A certificate that does not
// name host is made anew.
func EnsureCredentials(dir, host string) (*Credentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kubernetes API credentials: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kubernetes API credentials: %w", err)
	}
	cp, kp := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	certPEM, keyPEM, err := loadPair(cp, kp, host)
	if err != nil {
		ips := []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
		var dns []string
		if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
			ips = append(ips, ip)
		} else if ip == nil && host != "" && host != "localhost" {
			dns = append(dns, host)
		}
		if certPEM, keyPEM, err = cert.GenerateSelfSignedCertKey("localhost", ips, dns); err != nil {
			return nil, fmt.Errorf("generate the serving certificate: %w", err)
		}
		if err := keyutil.WriteKey(kp, keyPEM); err != nil {
			return nil, fmt.Errorf("write %s: %w", kp, err)
		}
		if err := cert.WriteCert(cp, certPEM); err != nil {
			return nil, fmt.Errorf("write %s: %w", cp, err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load the serving certificate: %w", err)
	}
	token, err := ensureToken(filepath.Join(dir, tokenFile))
	if err != nil {
		return nil, err
	}
	return &Credentials{Cert: pair, CAPEM: certPEM, Token: token}, nil
}

// loadPair reads the certificate and key if both exist and the
// certificate names host.
func loadPair(cp, kp, host string) ([]byte, []byte, error) {
	certPEM, err := os.ReadFile(cp)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(kp)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, nil, errors.New("no certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, err
	}
	if ip := net.ParseIP(host); ip != nil {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return nil, nil, errors.New("certificate does not name the address")
		}
	} else if err := c.VerifyHostname(host); host != "" && err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// ensureToken reads the token file or writes a new random token (0600).
func ensureToken(path string) (string, error) {
	if data, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(data)); t != "" {
			return t, os.Chmod(path, 0o600)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	t := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return t, nil
}

// WriteServerURL records the URL the daemon serves (for Kubeconfig).
func WriteServerURL(dir, url string) error {
	return os.WriteFile(filepath.Join(dir, serverFile), []byte(url+"\n"), 0o600)
}

// ServerURL is https://ADDR for a --kubernetes-api-address.
func ServerURL(addr string) string { return "https://" + addr }

// Kubeconfig is a kubeconfig for the API the daemon with credentials in
// dir serves: its server URL, CA data and token. server "" is the one the
// daemon recorded.
func Kubeconfig(dir, server string) ([]byte, error) {
	if server == "" {
		data, err := os.ReadFile(filepath.Join(dir, serverFile))
		if err != nil {
			return nil, fmt.Errorf("no Kubernetes API recorded under %s (is the daemon running with --kubernetes-api-address?): %w", dir, err)
		}
		server = strings.TrimSpace(string(data))
	}
	ca, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		return nil, fmt.Errorf("read the API's certificate: %w", err)
	}
	token, err := os.ReadFile(filepath.Join(dir, tokenFile))
	if err != nil {
		return nil, fmt.Errorf("read the API's token: %w", err)
	}
	const name = "miniagent"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: strings.TrimSpace(string(token))}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = name
	return clientcmd.Write(*cfg)
}
