package fast

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miniagent/miniagent/agent/api"
)

// The test may link what the entry point must not: only the package
// itself is checked by cmd/miniagent's test.
func TestConstantsAgreeWithTheServer(t *testing.T) {
	if manifestApplyPath != api.ManifestApplyPath {
		t.Errorf("manifestApplyPath %q, api.ManifestApplyPath %q", manifestApplyPath, api.ManifestApplyPath)
	}
	if applyResultHeader != strings.ToLower(api.ApplyResultHeader) {
		t.Errorf("applyResultHeader %q, api.ApplyResultHeader %q", applyResultHeader, api.ApplyResultHeader)
	}
}

func TestParseApply(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	replace := func(a string) string {
		a = strings.ReplaceAll(a, "NONE", filepath.Join(dir, "none.yaml"))
		a = strings.ReplaceAll(a, "D", dir)
		return strings.ReplaceAll(a, "F", f)
	}
	for _, tc := range []struct {
		args string
		want *ApplyQuery // nil: not ours
	}{
		{"apply -f F", &ApplyQuery{Socket: "S", File: f}},
		{"apply -fF", &ApplyQuery{Socket: "S", File: f}},
		{"apply -f=F", &ApplyQuery{Socket: "S", File: f}},
		{"apply --filename F", &ApplyQuery{Socket: "S", File: f}},
		{"apply --filename=F --force", &ApplyQuery{Socket: "S", File: f, Force: true}},
		{"-n x apply -f F", &ApplyQuery{Socket: "S", File: f, Namespace: "x"}},
		{"--socket=/s apply -f F --namespace y", &ApplyQuery{Socket: "/s", File: f, Namespace: "y"}},

		{"apply", nil},
		{"apply -f", nil},
		{"apply -f F -f F", nil},
		{"apply -f D", nil},
		{"apply -f -", nil},
		{"apply -f NONE", nil},
		{"apply -f F extra", nil},
		{"apply -f F --force=true", nil},
		{"apply -f F --dry-run=client", nil},
		{"apply -f F -o yaml", nil},
		{"apply -f F --server-side", nil},
		{"apply -f F -n ''", nil},
		{"apply -k F", nil},
		{"-f F apply", nil},
		{"--force apply -f F", nil},
		{"-A apply -f F", nil},
		{"create -f F", nil},
		{"apply -f F --help", nil},
	} {
		checkParse(t, "ParseApply", ParseApply, tc.args, replace, tc.want)
	}
}
