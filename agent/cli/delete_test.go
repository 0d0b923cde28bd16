package cli

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDeleteSelectors(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c"} {
		p := statusPod(n)
		p.Labels = map[string]string{"app": map[string]string{"a": "x", "b": "x", "c": "y"}[n]}
		e.b.SetPod(p)
	}
	if got := e.mustRun("delete", "pods", "-l", "app=x", "--wait=false"); got != "pod \"a\" deleted\npod \"b\" deleted\n" {
		t.Errorf("-l: %q", got)
	}
	if got := e.mustRun("delete", "pods", "-l", "app=x"); got != "No resources found\n" {
		t.Errorf("-l, nothing left: %q", got)
	}
	other := statusPod("o")
	other.Namespace, other.Labels = "other", map[string]string{"app": "y"}
	e.b.SetPod(other)
	if got := e.mustRun("delete", "pod", "--all"); got != "pod \"c\" deleted\n" {
		t.Errorf("--all: %q", got)
	}
	// -A reaches the other namespace's pod, as kubectl's.
	if got := e.mustRun("delete", "pod", "-l", "app=y", "-A"); got != "pod \"o\" deleted\n" {
		t.Errorf("-l -A: %q", got)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "1.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: d\nspec:\n  containers:\n  - name: c\n    image: x\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: gone\nspec:\n  containers:\n  - name: c\n    image: x\n"), 0o644)
	e.b.SetPod(statusPod("d"))
	out, errs, rc := e.cli("", "delete", "-f", dir)
	want := "Error from server (NotFound): error when deleting \"" + filepath.Join(dir, "1.yaml") + "\": pods \"gone\" not found\n"
	if rc != 1 || out != "pod \"d\" deleted\n" || errs != want {
		t.Errorf("-f DIR: %d %q %q, want stderr %q", rc, out, errs, want)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"delete"}, "error: You must provide one or more resources by argument or filename.\n"},
		{[]string{"delete", "pods"}, "error: resource(s) were provided, but no name was specified\n"},
		{[]string{"delete", "pod", "x", "-l", "a=b"}, "error: name cannot be provided when a selector is specified\n"},
		{[]string{"delete", "pods", "--all", "-l", "a=b"}, "error: cannot set --all and --selector at the same time\n"},
		{[]string{"delete", "pod", "x", "-f", dir}, "error: resource names, -l and --all cannot be used with -f\n"},
	} {
		_, errs, rc := e.cli("", tc.args...)
		if rc != 1 || errs != tc.want {
			t.Errorf("%v: %d %q, want %q", tc.args, rc, errs, tc.want)
		}
	}
	d := e.b.Deletes()
	if len(d) != 6 || !d[2].Wait || d[0].Wait || d[3].Namespace != "other" {
		t.Errorf("deletes: %+v", d)
	}
}
