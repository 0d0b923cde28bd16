package kubeletserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/utils/exec"
)

// restConfig is a client-go config for the test server as admin.
func restConfig(t *testing.T, ts *testServer) *rest.Config {
	t.Helper()
	c, k := ts.ca.client(t, "admin")
	return &rest.Config{Host: ts.srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true, CertData: c, KeyData: k}}
}

func TestExecAndAttach(t *testing.T) {
	ts, _ := adminServer(t)
	ts.b.SetPod(testPod())
	cfg := restConfig(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(what, method, path string, ws bool) (string, string, error) {
		t.Helper()
		u, err := url.Parse(ts.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var ex remotecommand.Executor
		if ws {
			// cri-streaming's WebSocket server speaks up to v4; v5 (with
			// CLOSE) reaches kubelet translated to SPDY by the apiserver.
			ex, err = remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", u.String(), "v4.channel.k8s.io")
		} else {
			ex, err = remotecommand.NewSPDYExecutor(cfg, method, u)
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var out, errOut bytes.Buffer
		err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
		return out.String(), errOut.String(), err
	}
	// kubelet's parameter names (the apiserver's proxy sends these) and the API's.
	for _, tc := range []struct {
		what, path string
		ws         bool
	}{
		{"SPDY, kubelet parameters", "/exec/ns1/web/app?command=echo&command=hi&output=1&error=1", false},
		{"SPDY, API parameters", "/exec/ns1/web/app?command=echo&command=hi&stdout=true&stderr=true", false},
		{"WebSocket", "/exec/ns1/web/app?command=echo&command=hi&output=1&error=1", true},
		{"with the pod UID", "/exec/ns1/web/uid-1/app?command=echo&command=hi&output=1&error=1", false},
	} {
		out, errOut, err := run(tc.what, "POST", tc.path, tc.ws)
		if err != nil || out != "ran echo hi\n" || errOut != "stderr of app\n" {
			t.Errorf("exec %s: out %q err %q: %v", tc.what, out, errOut, err)
		}
	}
	ts.b.mu.Lock()
	ts.b.exitCode = 3
	ts.b.mu.Unlock()
	_, _, err := run("exit code", "POST", "/exec/ns1/web/app?command=false&output=1&error=1", false)
	var ee utilexec.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Errorf("exec exit 3: %v", err)
	}
	if _, _, err := run("wrong UID", "POST", "/exec/ns1/web/uid-2/app?command=x&output=1", false); err == nil || !strings.Contains(err.Error(), "404") && !strings.Contains(err.Error(), "not found") {
		t.Errorf("exec with another UID: %v, want not found", err)
	}
	if _, _, err := run("missing pod", "POST", "/exec/ns1/nope/app?command=x&output=1", false); err == nil {
		t.Error("exec in a missing pod succeeded")
	}
	out, _, err := run("attach", "POST", "/attach/ns1/web/app?output=1&error=1", false)
	if err != nil || out != "attached to ns1/web/app\n" {
		t.Errorf("attach: %q %v", out, err)
	}
	out, _, err = run("attach WebSocket", "GET", "/attach/ns1/web/app?output=1&error=1", true)
	if err != nil || out != "attached to ns1/web/app\n" {
		t.Errorf("attach over WebSocket: %q %v", out, err)
	}
}

func TestPortForward(t *testing.T) {
	ts, _ := adminServer(t)
	ts.b.SetPod(testPod())
	cfg := restConfig(t, ts)
	rt, up, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ts.srv.URL + "/portForward/ns1/web")
	dialer := spdy.NewDialer(up, &http.Client{Transport: rt}, "POST", u)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddressesWithContext(ctx, dialer, []string{"127.0.0.1"}, []string{"0:8080"}, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("ports %v %v", ports, err)
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte("hello"))
	got, _ := io.ReadAll(conn)
	conn.Close()
	if string(got) != "port 8080: HELLO" {
		t.Errorf("forwarded answer %q", got)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("ForwardPorts: %v", err)
	}
}
