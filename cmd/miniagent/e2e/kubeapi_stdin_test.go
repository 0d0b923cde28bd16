package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestKubeAPIStockKubectlAttachStdin: stock kubectl applies a stdinOnce
// pod and `kubectl attach -i` feeds it a line through the same handlers
// as the CLI; the container reads EOF when kubectl's stdin ends.
func TestKubeAPIStockKubectlAttachStdin(t *testing.T) {
	t.Setenv("KUBECACHEDIR", t.TempDir())
	k := newKubectlRig(t)
	file := writeKubectlFile(t, t.TempDir(), "stdin.yaml", stdinPodYAML("kstdin", true))
	wantLines(t, "apply", k.must(t, "apply", "-f", file), `^pod/kstdin created$`)
	wantLines(t, "wait", k.must(t, "wait", "--for=condition=Ready", "pod/kstdin", "--timeout=60s"), `^pod/kstdin condition met$`)
	out, err := k.run(t, strings.NewReader("from-kubectl\n"), "attach", "-i", "kstdin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "got: from-kubectl\nstdin-eof\n") {
		t.Fatalf("kubectl attach -i printed %q, want the line and stdin-eof", out)
	}
	wantLines(t, "wait", k.must(t, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/kstdin", "--timeout=30s"), `^pod/kstdin condition met$`)
	if got := k.must(t, "logs", "kstdin"); got != "got: from-kubectl\nstdin-eof\n" {
		t.Fatalf("kubectl logs: %q", got)
	}
	k.must(t, "delete", "pod", "kstdin", "--grace-period=0")
}

// TestKubeAPIStockKubectlAttachTTY: stock `kubectl attach -it` on a real
// pseudo-terminal reaches the shell of a `tty: true` container, with the
// terminal's size and a resize.
func TestKubeAPIStockKubectlAttachTTY(t *testing.T) {
	t.Setenv("KUBECACHEDIR", t.TempDir())
	k := newKubectlRig(t)
	file := writeKubectlFile(t, t.TempDir(), "tty.yaml", strings.ReplaceAll(ttyStdinPod, "e2e-attach-tty", "ktty"))
	wantLines(t, "apply", k.must(t, "apply", "-f", file), `^pod/ktty created$`)
	wantLines(t, "wait", k.must(t, "wait", "--for=condition=Ready", "pod/ktty", "--timeout=60s"), `^pod/ktty condition met$`)
	s := startPTY(t, 31, 97, []string{"KUBECACHEDIR=" + os.Getenv("KUBECACHEDIR")}, k.kubectl, "--kubeconfig", k.kubeconfig, "attach", "-it", "ktty")
	attachedShell(t, s)
	s.send("exit 0\r")
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("kubectl attach did not end 20 s after the shell exited; terminal: %q", s.output())
	}
	wantLines(t, "wait", k.must(t, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/ktty", "--timeout=30s"), `^pod/ktty condition met$`)
	k.must(t, "delete", "pod", "ktty", "--grace-period=0")
}
