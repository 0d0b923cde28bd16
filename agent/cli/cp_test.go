package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tarOf(t *testing.T, entries map[string]string) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, body := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	tw.Close()
	return &b
}

func TestUntarRefusesEscapes(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "out")
	for _, name := range []string{"tmp/d/../../../etc/x", "other/file"} {
		err := untar(tarOf(t, map[string]string{name: "x"}), "tmp/d", dst, &bytes.Buffer{})
		if err == nil {
			t.Errorf("entry %q was accepted", name)
		}
	}
}

func TestTarRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "tree")
	_ = os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	_ = os.WriteFile(filepath.Join(src, "sub", "f"), []byte("data"), 0o600)
	_ = os.Symlink("/etc/passwd", filepath.Join(src, "link"))
	var b bytes.Buffer
	if err := writeTar(&b, src, "tmp/tree"); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "back")
	var warn bytes.Buffer
	if err := untar(&b, "tmp/tree", dst, &warn); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dst, "sub", "f"))
	if err != nil || string(got) != "data" {
		t.Fatalf("sub/f = %q, %v", got, err)
	}
	if !strings.Contains(warn.String(), "skipping symlink") {
		t.Fatalf("a symlink was not skipped with a warning: %q", warn.String())
	}
	// A single file into an existing directory lands there under its name.
	dir := t.TempDir()
	if err := untar(tarOf(t, map[string]string{"tmp/f": "one"}), "tmp/f", dir, &warn); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "one" {
		t.Fatalf("file into a directory: %q", got)
	}
}
