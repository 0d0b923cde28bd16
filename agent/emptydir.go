package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
)

// Permission bits the kubelet's SetVolumeOwnership adds for fsGroup.
const (
	groupRW   os.FileMode = 0o060
	groupExec os.FileMode = 0o010
)

// emptyDirMode is the mode of a new emptyDir's directory: spec.mode (at most
// 01777, as validated) or 0777.
func emptyDirMode(ed *v1.EmptyDirVolumeSource) os.FileMode {
	if ed.Mode == nil {
		return 0o777
	}
	m := os.FileMode(*ed.Mode) & 0o777
	if *ed.Mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// setupEmptyDir creates the emptyDir at dir (a tmpfs for medium Memory)
// with its mode and, given an fsGroup, its group ownership. Like the
// kubelet, it sets mode and ownership only when it creates the volume: an
// emptyDir that exists already (a restarted agent) is left as its
// containers made it.
func setupEmptyDir(dir string, ed *v1.EmptyDirVolumeSource, fsGroup *int64) error {
	_, err := os.Lstat(dir)
	fresh := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mode := emptyDirMode(ed)
	if ed.Medium == v1.StorageMediumMemory && !isMountPoint(dir) {
		opts := fmt.Sprintf("mode=%#o", uint32(mode.Perm())|stickyBits(mode))
		if l := ed.SizeLimit; l != nil && !l.IsZero() {
			opts += fmt.Sprintf(",size=%d", l.Value())
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mount tmpfs: %w", err)
		}
		fresh = true
	}
	if !fresh {
		return nil
	}
	// The umask has cut the mode MkdirAll used; set it exactly.
	if err := os.Chmod(dir, mode); err != nil {
		return err
	}
	if fsGroup != nil {
		return setVolumeOwnership(dir, *fsGroup)
	}
	return nil
}

func stickyBits(m os.FileMode) uint32 {
	if m&os.ModeSticky != 0 {
		return 0o1000
	}
	return 0
}

// setVolumeOwnership gives everything below and including dir to group
// fsGroup as the kubelet's SetVolumeOwnership does: group read and write on
// every file, on directories also group execute and the setgid bit (so what
// is created in them inherits the group). Symlinks get the group only, their
// targets keep their mode. A new emptyDir thus becomes mode 2777.
func setVolumeOwnership(dir string, fsGroup int64) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, int(fsGroup)); err != nil {
			return fmt.Errorf("fsGroup %d: %w", fsGroup, err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mask := groupRW
		if d.IsDir() {
			mask |= groupExec | os.ModeSetgid
		}
		return os.Chmod(path, info.Mode()|mask)
	})
}
