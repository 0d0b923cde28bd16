package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKubeAPIStockKubectl drives a daemon started with
// --kubernetes-api-address with the unmodified kubectl for every verb the
// API serves, checking what kubectl prints.
func TestKubeAPIStockKubectl(t *testing.T) {
	// A discovery cache of its own: the host's ~/.kube/cache may hold
	// another run's answers for the same address.
	t.Setenv("KUBECACHEDIR", t.TempDir())
	k := newKubectlRig(t)
	dir := t.TempDir()
	web := writeKubectlFile(t, dir, "web.yaml", kubectlWebPod)

	t.Run("credentials", func(t *testing.T) {
		for _, f := range []string{"token", "apiserver.key"} {
			fi, err := os.Stat(filepath.Join(k.rootDir, "kubeapi", f))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, mode %v, want 0600", f, err, fi.Mode())
			}
		}
		out := k.must(t, "version")
		wantLines(t, "version", out, `^Server Version: v1\.\d+\.\d+-miniagent$`)
		// Without the token nothing is served.
		bad := strings.Replace(string(must(os.ReadFile(k.kubeconfig))), "token: ", "token: x", 1)
		badFile := writeKubectlFile(t, dir, "bad.kubeconfig", bad)
		if out, err := exec.Command(k.kubectl, "--kubeconfig", badFile, "get", "pods").CombinedOutput(); err == nil || !(strings.Contains(string(out), "Unauthorized") || strings.Contains(string(out), "You must be logged in to the server")) {
			// kubectl words a 401 by where it came: Unauthorized on the
			// request, "You must be logged in" on discovery (no cache).
			t.Errorf("a wrong token: %v %s, want kubectl's 401 message", err, out)
		}
	})

	t.Run("apply-wait-get", func(t *testing.T) {
		wantLines(t, "apply", k.must(t, "apply", "-f", web), `^pod/kweb created$`)
		wantLines(t, "wait", k.must(t, "wait", "--for=condition=Ready", "pod/kweb", "--timeout=60s"), `^pod/kweb condition met$`)
		wantLines(t, "apply again", k.must(t, "apply", "-f", web), `^pod/kweb unchanged$`)
		out := k.must(t, "get", "pods")
		wantLines(t, "get pods", out, `^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$`, `^kweb\s+1/1\s+Running\s+0\s+\d+s$`)
		out = k.must(t, "get", "pods", "-o", "wide", "-A")
		wantLines(t, "get pods -o wide -A", out, `^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$`,
			`^default\s+kweb\s+1/1\s+Running\s+0\s+\S+\s+<none>\s+miniagent-fault-node\s+<none>\s+<none>$`)
		wantLines(t, "jsonpath", k.must(t, "get", "pod", "kweb", "-o", "jsonpath={.status.phase} {.spec.containers[0].name}"), `^Running web$`)
		// A changed annotation is an in-place update (same UID).
		uid := k.must(t, "get", "pod", "kweb", "-o", "jsonpath={.metadata.uid}")
		changed := writeKubectlFile(t, dir, "web2.yaml", strings.Replace(kubectlWebPod, "  labels: {app: kweb}\n", "  labels: {app: kweb}\n  annotations: {note: two}\n", 1))
		wantLines(t, "apply a change", k.must(t, "apply", "-f", changed), `^pod/kweb configured$`)
		if got := k.must(t, "get", "pod", "kweb", "-o", "jsonpath={.metadata.uid} {.metadata.annotations.note}"); got != uid+" two" {
			t.Errorf("after the change: %q, want %q", got, uid+" two")
		}
		// A change the apiserver refuses on a running pod: its message.
		refused := writeKubectlFile(t, dir, "web3.yaml", strings.Replace(kubectlWebPod, "terminationGracePeriodSeconds: 2", "terminationGracePeriodSeconds: 5", 1))
		out, err := k.run(t, nil, "apply", "-f", refused)
		if err == nil || !strings.Contains(out, "pod updates may not change fields other than") {
			t.Errorf("a forbidden change: %v\n%s", err, out)
		}
		wantLines(t, "get ns", k.must(t, "get", "ns", "default"), `^default\s+Active\s+\S+$`)
	})

	t.Run("watch-label", func(t *testing.T) {
		lines := k.start(t, "get", "pods", "-w")
		if l := nextLine(t, lines, "get -w header"); !strings.HasPrefix(l, "NAME") {
			t.Fatalf("get -w first line %q, want the header", l)
		}
		if l := nextLine(t, lines, "get -w row"); !strings.HasPrefix(l, "kweb ") {
			t.Fatalf("get -w row %q", l)
		}
		wantLines(t, "label", k.must(t, "label", "pod", "kweb", "tier=front"), `^pod/kweb labeled$`)
		// The list's pod is not printed again: the next line is the change.
		if l := nextLine(t, lines, "get -w after the label"); !strings.HasPrefix(l, "kweb ") {
			t.Fatalf("get -w after the label: %q", l)
		}
		wantLines(t, "show labels", k.must(t, "get", "pods", "--show-labels"), `^kweb\s.*\sapp=kweb,tier=front$`)
		wantLines(t, "-l", k.must(t, "get", "pods", "-l", "tier=front", "-o", "name"), `^pod/kweb$`)
		node := strings.TrimSpace(k.must(t, "get", "nodes", "-o", "name"))
		wantLines(t, "label node", k.must(t, "label", node, "kubeapi-e2e=yes"), `^node/miniagent-fault-node labeled$`)
		wantLines(t, "get nodes", k.must(t, "get", "nodes", "-L", "kubeapi-e2e"), `^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+KUBEAPI-E2E$`, `^miniagent-fault-node\s+Ready\s+<none>\s+\S+\s+\S+\s+yes$`)
	})

	t.Run("describe-events", func(t *testing.T) {
		out := k.must(t, "describe", "pod", "kweb")
		wantLines(t, "describe", out, `^Name:\s+kweb$`, `^Status:\s+Running$`, `^Events:$`, `Started\s+\S+\s+kubelet\s+spec\.containers\{web\}: Started container web$`)
		out = k.must(t, "get", "events", "--field-selector", "involvedObject.name=kweb")
		wantLines(t, "get events", out, `^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$`, `^\S+\s+Normal\s+Started\s+pod/kweb\s+Started container web$`)
	})

	t.Run("logs-follow", func(t *testing.T) {
		k.must(t, "apply", "-f", writeKubectlFile(t, dir, "log.yaml", kubectlLogPod))
		k.must(t, "wait", "--for=jsonpath={.status.phase}=Running", "pod/klog", "--timeout=60s")
		start := time.Now()
		out := k.must(t, "logs", "-f", "klog")
		if out != "line 1\nline 2\nline 3\n" {
			t.Errorf("logs -f: %q, want the three lines", out)
		}
		if d := time.Since(start); d < 2*time.Second {
			t.Errorf("logs -f returned after %v: it did not follow the running container", d)
		}
	})

	t.Run("exec", func(t *testing.T) {
		out, err := k.run(t, strings.NewReader("hello\n"), "exec", "-i", "kweb", "--", "sh", "-c", "read x; echo got $x; exit 7")
		var ee *exec.ExitError
		if !strings.Contains(out, "got hello") || !errors.As(err, &ee) || ee.ExitCode() != 7 {
			t.Errorf("exec -i: %v %q, want got hello and exit code 7", err, out)
		}
		// -t: a terminal in the container (script gives kubectl one).
		script, err := exec.LookPath("script")
		if err != nil {
			t.Skip("no script(1) for a terminal")
		}
		cmd := exec.Command(script, "-qec", fmt.Sprintf("%s --kubeconfig %s exec -it kweb -- tty", k.kubectl, k.kubeconfig), "/dev/null")
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), "/dev/pts/") {
			t.Errorf("exec -it tty: %v %q, want a /dev/pts terminal", err, b)
		}
		// On a terminal of a known size: the size from the start, resizes,
		// exit codes, no NUL (the same checks as TestExecTTYSize).
		testTTYSession(t, nil, k.kubectl, "--kubeconfig", k.kubeconfig, "exec", "-it", "kweb", "--")
	})

	t.Run("port-forward", func(t *testing.T) {
		local := k.port + 1
		lines := k.start(t, "port-forward", "pod/kweb", fmt.Sprintf("%d:http", local))
		if l := nextLine(t, lines, "port-forward"); !strings.HasPrefix(l, fmt.Sprintf("Forwarding from 127.0.0.1:%d -> 8080", local)) {
			t.Fatalf("port-forward printed %q", l)
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", local))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "hello-kubectl\n" {
			t.Errorf("through the forward: %q", body)
		}
	})

	t.Run("server-side-apply", func(t *testing.T) {
		ssa := writeKubectlFile(t, dir, "ssa.yaml", kubectlSSAPod)
		wantLines(t, "apply --server-side", k.must(t, "apply", "--server-side", "-f", ssa), `^pod/kssa serverside-applied$`)
		other := writeKubectlFile(t, dir, "ssa-bob.yaml", strings.Replace(kubectlSSAPod, "owner: alice", "owner: bob", 1))
		out, err := k.run(t, nil, "apply", "--server-side", "--field-manager=bob", "-f", other)
		if err == nil || !strings.Contains(out, `conflict with "kubectl": .metadata.labels.owner`) {
			t.Errorf("bob's apply: %v\n%s", err, out)
		}
		k.must(t, "apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", other)
		wantLines(t, "owner", k.must(t, "get", "pod", "kssa", "-o", "jsonpath={.metadata.labels.owner}"), `^bob$`)
		out = k.must(t, "get", "pod", "kssa", "-o", "yaml", "--show-managed-fields")
		wantLines(t, "managed fields", out, `^\s+manager: kubectl$`, `^\s+manager: bob$`, `^\s+operation: Apply$`)
		// Dropping a field from kubectl's manifest removes it (kubectl owns it alone).
		dropped := writeKubectlFile(t, dir, "ssa2.yaml", strings.Replace(strings.Replace(kubectlSSAPod, ", owner: alice", "", 1), "{app: kssa}", "{app: kssa}", 1))
		k.must(t, "apply", "--server-side", "-f", dropped)
		if out := k.must(t, "get", "pod", "kssa", "-o", "jsonpath={.metadata.labels}"); out != `{"app":"kssa","owner":"bob"}` {
			t.Errorf("labels %s, want app (kubectl's) and owner (bob's)", out)
		}
	})

	t.Run("delete-wait", func(t *testing.T) {
		lines := k.start(t, "wait", "--for=delete", "pod/kssa", "--timeout=60s")
		wantLines(t, "delete", k.must(t, "delete", "pod", "kssa", "--wait=false"), `^pod "kssa" deleted`)
		if l := nextLine(t, lines, "wait --for=delete"); l != "pod/kssa condition met" {
			t.Errorf("wait --for=delete: %q", l)
		}
		wantLines(t, "delete kweb", k.must(t, "delete", "-f", web), `^pod "kweb" deleted`)
		out, err := k.run(t, nil, "get", "pod", "kweb")
		if err == nil || !strings.Contains(out, `pods "kweb" not found`) {
			t.Errorf("after delete: %v %s", err, out)
		}
		k.must(t, "delete", "pod", "klog")
	})
	k.checkNoLeftovers("after the kubectl verbs")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
