package apivolume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		filepath.WalkDir(filepath.Join(dir, e.Name()), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(p) // through the symlinks
			if err != nil || st.IsDir() {
				if err == nil && p == filepath.Join(dir, e.Name()) {
					// a top-level directory symlink: walk its target
					sub, _ := filepath.EvalSymlinks(p)
					filepath.WalkDir(sub, func(q string, d os.DirEntry, err error) error {
						if err == nil && !d.IsDir() {
							rel, _ := filepath.Rel(sub, q)
							data, _ := os.ReadFile(q)
							info, _ := d.Info()
							out[e.Name()+"/"+rel] = string(data) + " " + info.Mode().Perm().String()
						}
						return nil
					})
				}
				return nil
			}
			data, _ := os.ReadFile(p)
			out[e.Name()] = string(data) + " " + st.Mode().Perm().String()
			return nil
		})
	}
	return out
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	t0 := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	files := map[string]File{"token": {[]byte("t1"), 0o644}, "sub/ca.crt": {[]byte("CA"), 0o400}}
	changed, err := WriteAtomic(dir, files, t0, nil)
	if err != nil || !changed {
		t.Fatalf("first write: changed %v err %v", changed, err)
	}
	ts, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil || !strings.HasPrefix(ts, "..2026_12_02_04_00_00.") {
		t.Fatalf("..data -> %q (%v), want ..<timestamp>", ts, err)
	}
	for name, target := range map[string]string{"token": "..data/token", "sub": "..data/sub"} {
		if got, err := os.Readlink(filepath.Join(dir, name)); err != nil || got != target {
			t.Errorf("%s -> %q (%v), want %s", name, got, err, target)
		}
	}
	want := map[string]string{"token": "t1 -rw-r--r--", "sub/ca.crt": "CA -r--------"}
	if got := readVolume(t, dir); !equalMaps(got, want) {
		t.Errorf("volume = %v, want %v", got, want)
	}

	// The same content: nothing written.
	if changed, err := WriteAtomic(dir, files, t0.Add(time.Minute), nil); err != nil || changed {
		t.Errorf("rewrite of the same: changed %v err %v", changed, err)
	}
	// New content: a new timestamped dir, the old one gone, a dropped name removed.
	changed, err = WriteAtomic(dir, map[string]File{"token": {[]byte("t2"), 0o644}}, t0.Add(2*time.Minute), nil)
	if err != nil || !changed {
		t.Fatalf("update: changed %v err %v", changed, err)
	}
	ts2, _ := os.Readlink(filepath.Join(dir, "..data"))
	if ts2 == ts || !strings.HasPrefix(ts2, "..2026_12_02_04_02_00.") {
		t.Errorf("..data -> %q after the update", ts2)
	}
	if _, err := os.Stat(filepath.Join(dir, ts)); !os.IsNotExist(err) {
		t.Errorf("old directory %s kept: %v", ts, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("dropped name sub kept: %v", err)
	}
	if got := readVolume(t, dir); !equalMaps(got, map[string]string{"token": "t2 -rw-r--r--"}) {
		t.Errorf("volume after update = %v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 { // ..data, ..<ts>, token
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("entries %v, want ..data, one timestamped dir and token", names)
	}
	// A mode change alone is a change.
	if changed, _ := WriteAtomic(dir, map[string]File{"token": {[]byte("t2"), 0o600}}, t0.Add(3*time.Minute), nil); !changed {
		t.Error("mode change not written")
	}
}

func TestWriteAtomicFSGroup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	gid := int64(os.Getgid())
	if _, err := WriteAtomic(dir, map[string]File{"s": {[]byte("x"), 0o400}}, time.Now(), &gid); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "s"))
	if err != nil || st.Mode().Perm() != 0o440 {
		t.Errorf("fsGroup file mode %v (%v), want 0440 (group read added)", st.Mode().Perm(), err)
	}
	if changed, _ := WriteAtomic(dir, map[string]File{"s": {[]byte("x"), 0o400}}, time.Now(), &gid); changed {
		t.Error("group read bit counted as a change")
	}
}

func TestWriteAtomicRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"../x", "/abs", "a/../../x", "..data", ""} {
		if _, err := WriteAtomic(dir, map[string]File{p: {[]byte("x"), 0o644}}, time.Now(), nil); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
