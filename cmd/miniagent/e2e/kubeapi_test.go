package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kubectlRig is a daemon of its own serving --kubernetes-api-address, and
// the stock kubectl (built by scripts/build-control-plane.sh from the Go
// module proxy) with the kubeconfig `miniagent kubeconfig` printed.
type kubectlRig struct {
	*rig
	kubectl, kubeconfig string
	port                int
}

// kubeAPIPort is the API port of the test (MINIAGENT_E2E_KUBEAPI_PORT,
// default 20700); port-forward uses the next one.
func kubeAPIPort(t *testing.T) int {
	p := 20700
	if v := os.Getenv("MINIAGENT_E2E_KUBEAPI_PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("MINIAGENT_E2E_KUBEAPI_PORT=%q: %v", v, err)
		}
		p = n
	}
	return p
}

func newKubectlRig(t *testing.T) *kubectlRig {
	e2e(t)
	binDir := os.Getenv("MINIAGENT_K8S_BIN")
	if binDir == "" {
		repo, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		binDir = filepath.Join(repo, "bin", "k8s")
	}
	kubectl := filepath.Join(binDir, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		if os.Getenv("MINIAGENT_E2E_CLUSTER") == "1" {
			t.Fatalf("stock kubectl test: %s not built (scripts/build-control-plane.sh builds it): %v", kubectl, err)
		}
		t.Skipf("stock kubectl test: %s not built (run scripts/build-control-plane.sh, or set MINIAGENT_K8S_BIN)", kubectl)
	}
	port := kubeAPIPort(t)
	r := newRigArgs(t, false, append(logModeArgs(), "--kubernetes-api-address", fmt.Sprintf("127.0.0.1:%d", port))...)
	k := &kubectlRig{rig: r, kubectl: kubectl, kubeconfig: filepath.Join(r.dir, "kubeconfig"), port: port}
	var kc []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command(r.bin, "kubeconfig", "--root-dir", r.rootDir).CombinedOutput()
		if err == nil {
			kc = out
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("miniagent kubeconfig: %v\n%s\n%s", err, out, r.logTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := os.WriteFile(k.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// run runs kubectl; the error carries its output.
func (k *kubectlRig) run(t *testing.T, stdin io.Reader, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.kubectl, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &o, &e
	err := cmd.Run()
	if err != nil {
		return o.String() + e.String(), fmt.Errorf("kubectl %s: %w\n%s%s", strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), nil
}

// must runs kubectl and fails the test on an error.
func (k *kubectlRig) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := k.run(t, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// start runs kubectl in the background; its output arrives line by line.
func (k *kubectlRig) start(t *testing.T, args ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, k.kubectl, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	return lines
}

// nextLine waits for the next line of a background kubectl.
func nextLine(t *testing.T, lines <-chan string, what string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("%s: kubectl ended", what)
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no line within 30s", what)
	}
	return ""
}

// wantLines fails unless every pattern matches a line of out.
func wantLines(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile("(?m)" + p).MatchString(out) {
			t.Errorf("%s: no line matches %q in:\n%s", what, p, out)
		}
	}
}

const kubectlWebPod = `apiVersion: v1
kind: Pod
metadata:
  name: kweb
  labels: {app: kweb}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo hello-kubectl > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080, name: http}]
`

const kubectlLogPod = `apiVersion: v1
kind: Pod
metadata:
  name: klog
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "sleep 2; for i in 1 2 3; do echo line $i; sleep 1; done"]
`

const kubectlSSAPod = `apiVersion: v1
kind: Pod
metadata:
  name: kssa
  labels: {app: kssa, owner: alice}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
`

func writeKubectlFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
