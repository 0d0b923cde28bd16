package e2e

import (
	"strings"
	"testing"
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
