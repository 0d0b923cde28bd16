package kubeletserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// TLSFiles are the server's certificate flags.
type TLSFiles struct {
	CertFile, KeyFile string // --tls-cert-file, --tls-private-key-file ("" both: self-signed)
	ClientCAFile      string // --client-ca-file ("": client certificates are not accepted)
	// CertDir holds the self-signed certificate (kubelet.crt, kubelet.key).
	CertDir string
}

// SelfSignedPaths are where the self-signed certificate and key live.
func SelfSignedPaths(certDir string) (certFile, keyFile string) {
	return filepath.Join(certDir, "kubelet.crt"), filepath.Join(certDir, "kubelet.key")
}

// tlsConfig is the server's TLS configuration: TLS 1.2 or later, HTTP/1.1
// (the streaming upgrades need it), client certificates requested when a
// client CA is given (the authenticator verifies them). ips and dnsNames
// are what the self-signed certificate must cover.
func tlsConfig(f TLSFiles, ips []net.IP, dnsNames []string, now time.Time) (*tls.Config, error) {
	crt, err := servingCertificate(f, ips, dnsNames, now)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{crt}, NextProtos: []string{"http/1.1"}}
	if f.ClientCAFile != "" {
		pool, err := clientCAs(f.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequestClientCert
	}
	return cfg, nil
}

// clientCAs reads --client-ca-file.
func clientCAs(file string) (*x509.CertPool, error) {
	pool, err := cert.NewPool(file)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file %s: %w", file, err)
	}
	return pool, nil
}

// servingCertificate loads --tls-cert-file and --tls-private-key-file, or
// the self-signed pair in CertDir, made anew when missing, expired or not
// covering ips and dnsNames.
func servingCertificate(f TLSFiles, ips []net.IP, dnsNames []string, now time.Time) (tls.Certificate, error) {
	switch {
	case f.CertFile != "" && f.KeyFile != "":
		crt, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("--tls-cert-file %s, --tls-private-key-file %s: %w", f.CertFile, f.KeyFile, err)
		}
		return crt, nil
	case f.CertFile != "":
		return tls.Certificate{}, errors.New("--tls-private-key-file: required with --tls-cert-file")
	case f.KeyFile != "":
		return tls.Certificate{}, errors.New("--tls-cert-file: required with --tls-private-key-file")
	}
	if len(dnsNames) == 0 {
		return tls.Certificate{}, errors.New("self-signed serving certificate: no host name")
	}
	certFile, keyFile := SelfSignedPaths(f.CertDir)
	if crt, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && covers(crt, ips, dnsNames, now) {
		return crt, nil
	}
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey(dnsNames[0], ips, dnsNames[1:])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed serving certificate: %w", err)
	}
	if err := os.MkdirAll(f.CertDir, 0o755); err != nil {
		return tls.Certificate{}, err
	}
	if err := keyutil.WriteKey(keyFile, keyPEM); err != nil {
		return tls.Certificate{}, fmt.Errorf("write %s: %w", keyFile, err)
	}
	if err := cert.WriteCert(certFile, certPEM); err != nil {
		return tls.Certificate{}, fmt.Errorf("write %s: %w", certFile, err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// covers: the certificate's leaf is valid at now (and a day beyond) for
// every address and name.
func covers(crt tls.Certificate, ips []net.IP, dnsNames []string, now time.Time) bool {
	if len(crt.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(crt.Certificate[0])
	if err != nil || now.Before(leaf.NotBefore) || now.Add(24*time.Hour).After(leaf.NotAfter) {
		return false
	}
	for _, ip := range ips {
		if leaf.VerifyHostname(ip.String()) != nil {
			return false
		}
	}
	for _, n := range dnsNames {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	return true
}
