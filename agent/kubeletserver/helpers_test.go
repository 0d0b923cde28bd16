package kubeletserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/cert"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/api/apitest"
)

// testCA signs client certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) file(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(p, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// client returns a client certificate for cn in orgs, PEM cert and key.
func (ca *testCA) client(t *testing.T, cn string, orgs ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// reviews fakes the apiserver's TokenReview and SubjectAccessReview.
type reviews struct {
	mu      sync.Mutex
	tokens  map[string]authenticationv1.UserInfo // valid tokens
	allow   func(authorizationv1.SubjectAccessReviewSpec) bool
	sarErr  error
	tokenN  atomic.Int32
	sarN    atomic.Int32
	lastSAR []authorizationv1.SubjectAccessReviewSpec
}

func (rv *reviews) clientset() *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		rv.tokenN.Add(1)
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		rv.mu.Lock()
		defer rv.mu.Unlock()
		if u, ok := rv.tokens[tr.Spec.Token]; ok {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: u}
		} else {
			tr.Status = authenticationv1.TokenReviewStatus{Error: "invalid token"}
		}
		return true, tr, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		rv.sarN.Add(1)
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		rv.mu.Lock()
		defer rv.mu.Unlock()
		if rv.sarErr != nil {
			return true, nil, rv.sarErr
		}
		rv.lastSAR = append(rv.lastSAR, sar.Spec)
		sar.Status.Allowed = rv.allow != nil && rv.allow(sar.Spec)
		return true, sar, nil
	})
	return cs
}

func (rv *reviews) sars() []authorizationv1.SubjectAccessReviewSpec {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]authorizationv1.SubjectAccessReviewSpec(nil), rv.lastSAR...)
}

// fakeBackend is apitest's backend plus a streamer that echoes.
type fakeBackend struct {
	*apitest.Backend
	mu       sync.Mutex
	execs    [][]string
	exitCode int
}

func (b *fakeBackend) StreamTarget(ctx context.Context, ns, pod, container string, forContainer bool) (string, string, error) {
	p, err := b.GetPod(ctx, ns, pod)
	if err != nil {
		return "", "", err
	}
	if forContainer && !hasContainer(p, container) {
		return "", "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod))
	}
	return string(p.UID), container, nil
}

func (b *fakeBackend) ExecInContainer(_ context.Context, ns, pod, container string, cmd []string, st api.Streams) (int, error) {
	b.mu.Lock()
	b.execs = append(b.execs, append([]string{ns + "/" + pod + "/" + container}, cmd...))
	code := b.exitCode
	b.mu.Unlock()
	if st.Stdout != nil {
		fmt.Fprintf(st.Stdout, "ran %s\n", strings.Join(cmd, " "))
	}
	if st.Stderr != nil {
		fmt.Fprintf(st.Stderr, "stderr of %s\n", container)
	}
	return code, nil
}

func (b *fakeBackend) AttachContainer(_ context.Context, ns, pod, container string, st api.Streams) error {
	if st.Stdout != nil {
		fmt.Fprintf(st.Stdout, "attached to %s/%s/%s\n", ns, pod, container)
	}
	return nil
}

// PortForward answers "port N: " and the upper-cased input, then closes.
func (b *fakeBackend) PortForward(_ context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	buf := make([]byte, 64)
	n, err := stream.Read(buf)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stream, "port %d: %s", port, strings.ToUpper(string(buf[:n])))
	return err
}

// testServer is a kubelet server on httptest's TLS listener.
type testServer struct {
	s     *Server
	srv   *httptest.Server
	rv    *reviews
	b     *fakeBackend
	ca    *testCA
	clock *clocktesting.FakeClock
}

// servingPair is one self-signed certificate for all test servers (RSA
// key generation is slow under -race).
var servingPair struct {
	once      sync.Once
	cert, key []byte
	err       error
}

// certDir is a directory holding the shared self-signed pair.
func certDir(t *testing.T) string {
	t.Helper()
	servingPair.once.Do(func() {
		servingPair.cert, servingPair.key, servingPair.err = cert.GenerateSelfSignedCertKey("node1", []net.IP{net.ParseIP("127.0.0.1")}, nil)
	})
	if servingPair.err != nil {
		t.Fatal(servingPair.err)
	}
	dir := t.TempDir()
	c, k := SelfSignedPaths(dir)
	if err := os.WriteFile(c, servingPair.cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, servingPair.key, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startServer(t *testing.T, mutate func(*Options)) *testServer {
	t.Helper()
	ts := &testServer{rv: &reviews{tokens: map[string]authenticationv1.UserInfo{}}, ca: newTestCA(t),
		clock: clocktesting.NewFakeClock(time.Now())}
	ts.b = &fakeBackend{Backend: apitest.New()}
	o := Options{
		Backend: ts.b, NodeName: "node1", Client: ts.rv.clientset(), Clock: ts.clock,
		TLS:     TLSFiles{CertDir: certDir(t), ClientCAFile: ts.ca.file(t)},
		CertIPs: []net.IP{net.ParseIP("127.0.0.1")}, CertNames: []string{"node1"},
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "kubelet_running_pods 0\n") }),
	}
	if mutate != nil {
		mutate(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts.s = s
	ts.srv = httptest.NewUnstartedServer(s.Handler())
	if ts.srv.TLS, err = s.TLSConfig(); err != nil {
		t.Fatal(err)
	}
	ts.srv.StartTLS()
	t.Cleanup(ts.srv.Close)
	return ts
}

// httpClient is a client with the given client certificate (nil: none).
func (ts *testServer) httpClient(t *testing.T, certPEM, keyPEM []byte) *http.Client {
	t.Helper()
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test server's self-signed certificate
	if certPEM != nil {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// get does a request and returns the code and body.
func get(t *testing.T, c *http.Client, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
