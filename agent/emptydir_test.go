package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestEmptyDirMode(t *testing.T) {
	tests := []struct {
		mode *int32
		want os.FileMode
	}{
		{nil, 0o777},
		{ptrTo(int32(0o750)), 0o750},
		{ptrTo(int32(0o1777)), 0o777 | os.ModeSticky},
		{ptrTo(int32(0)), 0},
	}
	for _, tc := range tests {
		if got := emptyDirMode(&v1.EmptyDirVolumeSource{Mode: tc.mode}); got != tc.want {
			t.Errorf("mode %v: got %v, want %v", tc.mode, got, tc.want)
		}
	}
}

// stat returns the mode and group of path.
func stat(t *testing.T, path string) (os.FileMode, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown to another group")
	}
}

func TestSetupEmptyDir(t *testing.T) {
	needRoot(t)
	fsGroup := int64(2000)
	tests := []struct {
		name     string
		ed       v1.EmptyDirVolumeSource
		fsGroup  *int64
		wantMode os.FileMode
		wantGID  uint32
	}{
		{"default", v1.EmptyDirVolumeSource{}, nil, os.ModeDir | 0o777, 0},
		{"fsGroup: group rw, setgid", v1.EmptyDirVolumeSource{}, &fsGroup, os.ModeDir | os.ModeSetgid | 0o777, 2000},
		{"mode", v1.EmptyDirVolumeSource{Mode: ptrTo(int32(0o700))}, nil, os.ModeDir | 0o700, 0},
		{"fsGroup over mode", v1.EmptyDirVolumeSource{Mode: ptrTo(int32(0o750))}, &fsGroup, os.ModeDir | os.ModeSetgid | 0o770, 2000},
		{"sticky", v1.EmptyDirVolumeSource{Mode: ptrTo(int32(0o1777))}, nil, os.ModeDir | os.ModeSticky | 0o777, 0},
		{"tmpfs with fsGroup", v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory, SizeLimit: ptrTo(resource.MustParse("1Mi"))}, &fsGroup, os.ModeDir | os.ModeSetgid | 0o777, 2000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "volumes", "v")
			t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
			if err := setupEmptyDir(dir, &tc.ed, tc.fsGroup); err != nil {
				t.Fatal(err)
			}
			if tc.ed.Medium == v1.StorageMediumMemory && !isMountPoint(dir) {
				t.Fatal("no tmpfs mounted")
			}
			if mode, gid := stat(t, dir); mode != tc.wantMode || gid != tc.wantGID {
				t.Fatalf("mode %v group %d, want %v group %d", mode, gid, tc.wantMode, tc.wantGID)
			}
			// Set up again (an agent restart): what the containers changed stays.
			if err := os.Chmod(dir, 0o711); err != nil {
				t.Fatal(err)
			}
			if err := setupEmptyDir(dir, &tc.ed, tc.fsGroup); err != nil {
				t.Fatal(err)
			}
			if mode, _ := stat(t, dir); mode.Perm() != 0o711 {
				t.Fatalf("second setup changed the mode to %v", mode)
			}
		})
	}
}

func TestSetVolumeOwnership(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	sub, file, link := filepath.Join(dir, "sub"), filepath.Join(dir, "sub", "f"), filepath.Join(dir, "l")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(outside, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := setVolumeOwnership(dir, 3000); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		sub:  os.ModeDir | os.ModeSetgid | 0o770,
		file: 0o660,
	} {
		if mode, gid := stat(t, path); mode != want || gid != 3000 {
			t.Errorf("%s: mode %v group %d, want %v group 3000", path, mode, gid, want)
		}
	}
	if _, gid := stat(t, link); gid != 3000 {
		t.Errorf("symlink group %d", gid)
	}
	if mode, gid := stat(t, outside); mode != 0o600 || gid == 3000 {
		t.Errorf("symlink target changed: %v group %d", mode, gid)
	}
}

func TestMountOptions(t *testing.T) {
	rro := func(m v1.RecursiveReadOnlyMode) *v1.RecursiveReadOnlyMode { return &m }
	prop := func(m v1.MountPropagationMode) *v1.MountPropagationMode { return &m }
	tests := []struct {
		name string
		vm   v1.VolumeMount
		rro  bool
		want []string
	}{
		{"read-write", v1.VolumeMount{}, true, []string{"rbind", "rw"}},
		{"read-only", v1.VolumeMount{ReadOnly: true}, true, []string{"rbind", "ro"}},
		{"recursive", v1.VolumeMount{ReadOnly: true, RecursiveReadOnly: rro(v1.RecursiveReadOnlyEnabled)}, false, []string{"rbind", "ro", "rro"}},
		{"if possible, possible", v1.VolumeMount{ReadOnly: true, RecursiveReadOnly: rro(v1.RecursiveReadOnlyIfPossible)}, true, []string{"rbind", "ro", "rro"}},
		{"if possible, not possible", v1.VolumeMount{ReadOnly: true, RecursiveReadOnly: rro(v1.RecursiveReadOnlyIfPossible)}, false, []string{"rbind", "ro"}},
		{"disabled", v1.VolumeMount{ReadOnly: true, RecursiveReadOnly: rro(v1.RecursiveReadOnlyDisabled)}, true, []string{"rbind", "ro"}},
		{"bind mount options", v1.VolumeMount{BindMountOptions: []string{"noexec", "nosuid"}}, true, []string{"rbind", "rw", "noexec", "nosuid"}},
		{"host to container", v1.VolumeMount{MountPropagation: prop(v1.MountPropagationHostToContainer)}, true, []string{"rbind", "rw", "rslave"}},
		{"bidirectional", v1.VolumeMount{MountPropagation: prop(v1.MountPropagationBidirectional)}, true, []string{"rbind", "rw", "rshared"}},
		{"no propagation", v1.VolumeMount{MountPropagation: prop(v1.MountPropagationNone)}, true, []string{"rbind", "rw"}},
	}
	for _, tc := range tests {
		if got := mountOptions(tc.vm, tc.rro); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
