package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// mountinfoPath is where the cgroup mounts are read from.
const mountinfoPath = "/proc/self/mountinfo"

// busyRetries and busyDelay bound the retries of a removal the kernel
// refuses with EBUSY (tasks of a just-deleted container still exiting).
const (
	busyRetries = 10
	busyDelay   = 20 * time.Millisecond
)

// Mounts returns the mount points of every cgroup hierarchy of this process:
// each cgroup v1 controller (and named) hierarchy and the cgroup2 mount.
func Mounts() ([]string, error) {
	f, err := os.Open(mountinfoPath)
	if err != nil {
		return nil, fmt.Errorf("read cgroup mounts: %w", err)
	}
	defer f.Close()
	return parseMountinfo(f)
}

// parseMountinfo extracts the mount points of "cgroup" and "cgroup2"
// filesystems from /proc/<pid>/mountinfo content, without duplicates.
func parseMountinfo(r io.Reader) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if fstype := fields[sep+1]; fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		mp := UnescapeMountinfo(fields[4])
		if !seen[mp] {
			seen[mp] = true
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse mountinfo: %w", err)
	}
	return out, nil
}

// UnescapeMountinfo undoes the kernel's octal escapes in a mountinfo field
// (\040 for a space, \134 for a backslash).
func UnescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	if v > 255 {
		return 0, false
	}
	return byte(v), true
}

// RemovePath removes the cgroup directory path (relative to the hierarchy
// roots, e.g. /miniagent/besteffort/pod<uid>) and everything below it, in
// every mounted cgroup hierarchy. A path that does not exist is not an error.
func RemovePath(path string) error {
	mounts, err := Mounts()
	if err != nil {
		return err
	}
	return RemovePathUnder(mounts, path)
}

// RemovePathUnder is RemovePath for an explicit list of hierarchy mount
// points. Within each hierarchy the deepest directories are removed first.
// All hierarchies are tried; the errors are joined.
func RemovePathUnder(mounts []string, path string) error {
	rel, err := cleanCgroupPath(path)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		if err := removeTree(filepath.Join(m, rel)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Exists reports whether the cgroup directory path exists in any mounted
// hierarchy.
func Exists(path string) bool {
	mounts, err := Mounts()
	if err != nil {
		return false
	}
	return ExistsUnder(mounts, path)
}

// ExistsUnder is Exists for an explicit list of hierarchy mount points.
func ExistsUnder(mounts []string, path string) bool {
	rel, err := cleanCgroupPath(path)
	if err != nil {
		return false
	}
	for _, m := range mounts {
		if st, err := os.Stat(filepath.Join(m, rel)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

// cleanCgroupPath refuses paths that would name a hierarchy root or escape it.
func cleanCgroupPath(path string) (string, error) {
	for _, part := range strings.Split(path, "/") {
		if part == ".." {
			return "", fmt.Errorf("cgroup path %q: must not contain \"..\"", path)
		}
	}
	rel := strings.TrimPrefix(filepath.Clean("/"+path), "/")
	if rel == "" || rel == "." {
		return "", fmt.Errorf("cgroup path %q: refusing to remove a hierarchy root", path)
	}
	return rel, nil
}

// removeTree rmdirs dir and its subdirectories, deepest first. Cgroup
// directories hold only kernel pseudo-files, so rmdir is the right call.
func removeTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk cgroup %s: %w", dir, err)
	}
	sort.SliceStable(dirs, func(i, j int) bool {
		return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/")
	})
	for _, d := range dirs {
		if err := rmdir(d); err != nil {
			return fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return nil
}

func rmdir(dir string) error {
	for i := 0; ; i++ {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || i >= busyRetries {
			return err
		}
		time.Sleep(busyDelay)
	}
}
