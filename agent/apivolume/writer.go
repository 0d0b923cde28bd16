package apivolume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// dataLink is the symlink to the current timestamped directory.
const dataLink = "..data"

// Read-only volumes given to an fsGroup: the kubelet's SetVolumeOwnership
// adds group read (and search on directories).
const (
	groupRead   os.FileMode = 0o040
	groupSearch os.FileMode = 0o010
)

// WriteAtomic makes dir hold exactly files, as the kubelet's atomic writer
// does: when they differ from what dir shows, they are written into a new
// directory "..<now>", the symlink "..data" is switched to it with one
// rename, each top-level name is a symlink "<name> -> ..data/<name>", names
// no longer in files are removed, and so is the old directory. With fsGroup
// the files and directories get that group and group read. It reports
// whether anything changed.
func WriteAtomic(dir string, files map[string]File, now time.Time, fsGroup *int64) (bool, error) {
	for p := range files {
		if err := checkPath(p); err != nil {
			return false, err
		}
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataLink))
	if oldTS != "" && same(filepath.Join(dir, oldTS), files) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	tsDir, err := os.MkdirTemp(dir, now.UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	ts := filepath.Base(tsDir)
	if err := writeTree(tsDir, files, fsGroup); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	tmp := filepath.Join(dir, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(ts, tmp); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		os.Remove(tmp)
		os.RemoveAll(tsDir)
		return false, err
	}
	if err := linkTopLevel(dir, files); err != nil {
		return true, err
	}
	if oldTS != "" && oldTS != ts {
		if err := os.RemoveAll(filepath.Join(dir, oldTS)); err != nil {
			return true, err
		}
	}
	return true, nil
}

func writeTree(root string, files map[string]File, fsGroup *int64) error {
	dirMode := os.FileMode(0o755)
	if err := os.Chmod(root, dirMode); err != nil { // MkdirTemp made it 0700
		return err
	}
	for p, f := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), dirMode); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.Mode); err != nil { // the umask cut it
			return err
		}
	}
	if fsGroup == nil {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, int(*fsGroup)); err != nil {
			return fmt.Errorf("fsGroup %d: %w", *fsGroup, err)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		m := info.Mode() | groupRead
		if d.IsDir() {
			m |= groupSearch
		}
		return os.Chmod(p, m)
	})
}

// topLevel lists the first path elements of files.
func topLevel(files map[string]File) map[string]bool {
	out := map[string]bool{}
	for p := range files {
		first, _, _ := strings.Cut(p, "/")
		out[first] = true
	}
	return out
}

func linkTopLevel(dir string, files map[string]File) error {
	want := topLevel(files)
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		link := filepath.Join(dir, n)
		target := filepath.Join(dataLink, n)
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") || want[e.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// same tells whether the directory holds exactly files, modes included
// (group bits an fsGroup added aside).
func same(root string, files map[string]File) bool {
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		f, ok := files[rel]
		if !ok {
			return errDiffers
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&^(groupRead) != f.Mode.Perm()&^(groupRead) {
			return errDiffers
		}
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(data, f.Data) {
			return errDiffers
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}

var errDiffers = errors.New("differs")
