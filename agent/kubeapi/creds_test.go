package kubeapi

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/miniagent/miniagent/agent/api/apitest"
)

// TestServeWithKubeconfig: the generated credentials serve TLS that a
// client built from Kubeconfig verifies (CA data, token); the key and
// token are root-only and survive a restart.
func TestServeWithKubeconfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kubeapi")
	creds, err := EnsureCredentials(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{keyFile, tokenFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v, want 0600", f, err, fi.Mode())
		}
	}
	again, err := EnsureCredentials(dir, "127.0.0.1")
	if err != nil || again.Token != creds.Token || string(again.CAPEM) != string(creds.CAPEM) {
		t.Fatalf("second start: %v; token or certificate changed", err)
	}
	s, err := New(Options{Backend: apitest.New(), Token: creds.Token})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteServerURL(dir, ServerURL(ln.Addr().String())); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.ServeListener(ctx, ln, creds.Cert) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	kc, err := Kubeconfig(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ContentType = "application/json"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	nodes, err := c.CoreV1().Nodes().List(rctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("list nodes through the kubeconfig: %v %+v", err, nodes)
	}
	cfg.BearerToken = "wrong"
	bad, _ := kubernetes.NewForConfig(cfg)
	if _, err := bad.CoreV1().Nodes().List(rctx, metav1.ListOptions{}); err == nil {
		t.Fatal("a wrong token was accepted")
	}
}

func TestCertificateRenewedForAnotherHost(t *testing.T) {
	dir := t.TempDir()
	a, err := EnsureCredentials(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := EnsureCredentials(dir, "10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if string(a.CAPEM) == string(b.CAPEM) || a.Token != b.Token {
		t.Fatal("a certificate for another address was not made anew (or the token changed)")
	}
}
