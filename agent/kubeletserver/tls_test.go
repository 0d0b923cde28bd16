package kubeletserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/util/cert"
)

func leafOf(t *testing.T, certFile string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := cert.ParseCertsPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func TestSelfSignedCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ip := net.ParseIP("10.1.2.3")
	now := time.Now()
	if _, err := tlsConfig(TLSFiles{CertDir: dir}, []net.IP{ip}, []string{"node-a", "host-a"}, now); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := SelfSignedPaths(dir)
	leaf := leafOf(t, certFile)
	if leaf.VerifyHostname("10.1.2.3") != nil || leaf.VerifyHostname("node-a") != nil || leaf.VerifyHostname("host-a") != nil || leaf.VerifyHostname("other") == nil {
		t.Errorf("SANs: IPs %v DNS %v", leaf.IPAddresses, leaf.DNSNames)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", fi, err)
	}
	first, _ := os.ReadFile(certFile)

	// Reused while it covers the same names.
	if _, err := tlsConfig(TLSFiles{CertDir: dir}, []net.IP{ip}, []string{"node-a"}, now); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(certFile); !bytes.Equal(first, again) {
		t.Error("a still valid self-signed certificate was made anew")
	}
	// Made anew for another node IP, and when it is about to expire.
	if _, err := tlsConfig(TLSFiles{CertDir: dir}, []net.IP{net.ParseIP("10.9.9.9")}, []string{"node-a"}, now); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(certFile)
	if bytes.Equal(first, second) || leafOf(t, certFile).VerifyHostname("10.9.9.9") != nil {
		t.Error("certificate not renewed for a new node IP")
	}
	if _, err := tlsConfig(TLSFiles{CertDir: dir}, []net.IP{net.ParseIP("10.9.9.9")}, []string{"node-a"}, now.Add(365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if third, _ := os.ReadFile(certFile); bytes.Equal(second, third) {
		t.Error("expiring certificate not renewed")
	}
}

func TestTLSFlags(t *testing.T) {
	dir := certDir(t)
	certFile, keyFile := SelfSignedPaths(dir)
	ca := newTestCA(t)
	cfg, err := tlsConfig(TLSFiles{CertFile: certFile, KeyFile: keyFile, ClientCAFile: ca.file(t)}, nil, nil, time.Now())
	if err != nil || len(cfg.Certificates) != 1 || cfg.ClientCAs == nil || cfg.MinVersion == 0 {
		t.Fatalf("given files: %+v %v", cfg, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	_ = os.WriteFile(bad, []byte("not pem"), 0o644)
	for _, tc := range []struct {
		f    TLSFiles
		want string
	}{
		{TLSFiles{CertFile: certFile}, "--tls-private-key-file: required"},
		{TLSFiles{KeyFile: keyFile}, "--tls-cert-file: required"},
		{TLSFiles{CertFile: bad, KeyFile: keyFile}, "--tls-cert-file " + bad},
		{TLSFiles{CertFile: certFile, KeyFile: keyFile, ClientCAFile: bad}, "--client-ca-file " + bad},
		{TLSFiles{CertFile: certFile, KeyFile: keyFile, ClientCAFile: "/nonexistent/ca.crt"}, "--client-ca-file /nonexistent/ca.crt"},
	} {
		if _, err := tlsConfig(tc.f, nil, []string{"n"}, time.Now()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
}

func TestNewOptions(t *testing.T) {
	rv := &reviews{}
	b := &fakeBackend{}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Client: rv.clientset()}, "Backend and Client are required"},
		{Options{Backend: b, Client: rv.clientset()}, "--node-name"},
		{Options{Backend: b, Client: rv.clientset(), NodeName: "n", Port: 70000}, "--port 70000"},
	} {
		if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want %q", tc.o, err, tc.want)
		}
	}
	s, err := New(Options{Backend: b, Client: rv.clientset(), NodeName: "n", TLS: TLSFiles{CertDir: certDir(t)}, CertNames: []string{"node1"}, Address: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "127.0.0.1:10250" {
		t.Errorf("Addr %s, want 127.0.0.1:10250", s.Addr())
	}
	s, err = New(Options{Backend: b, Client: rv.clientset(), NodeName: "n", Port: 1234, TLS: TLSFiles{CertDir: certDir(t)}, CertNames: []string{"node1"}})
	if err != nil || s.Addr() != ":1234" {
		t.Errorf("all addresses: %v %v", s, err)
	}
	// A self-signed certificate that cannot be written fails TLSConfig
	// (and so Run), not New.
	s, err = New(Options{Backend: b, Client: rv.clientset(), NodeName: "n", TLS: TLSFiles{CertDir: "/proc/kubelet-pki"}, CertNames: []string{"n"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TLSConfig(); err == nil {
		t.Error("TLSConfig with an unwritable certificate directory succeeded")
	}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "kubelet server") {
		t.Errorf("Run with an unwritable certificate directory: %v", err)
	}
}
