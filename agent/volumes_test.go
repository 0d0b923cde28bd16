package agent

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	typ := func(t v1.HostPathType) *v1.HostPathType { return &t }
	cases := []struct {
		name    string
		path    string
		typ     *v1.HostPathType
		wantErr string
		created bool // the path must exist afterwards
	}{
		{name: "unset type accepts a missing path", path: filepath.Join(dir, "missing")},
		{name: "DirectoryOrCreate creates", path: filepath.Join(dir, "new/dir"), typ: typ(v1.HostPathDirectoryOrCreate), created: true},
		{name: "DirectoryOrCreate on a file", path: file, typ: typ(v1.HostPathDirectoryOrCreate), wantErr: "is not a directory"},
		{name: "Directory exists", path: dir, typ: typ(v1.HostPathDirectory)},
		{name: "Directory missing", path: filepath.Join(dir, "nope"), typ: typ(v1.HostPathDirectory), wantErr: "is not a directory"},
		{name: "FileOrCreate creates", path: filepath.Join(dir, "sub/new.txt"), typ: typ(v1.HostPathFileOrCreate), created: true},
		{name: "FileOrCreate on a directory", path: dir, typ: typ(v1.HostPathFileOrCreate), wantErr: "is not a file"},
		{name: "File exists", path: file, typ: typ(v1.HostPathFile)},
		{name: "File is a directory", path: dir, typ: typ(v1.HostPathFile), wantErr: "is not a file"},
		{name: "Socket", path: sock, typ: typ(v1.HostPathSocket)},
		{name: "Socket on a file", path: file, typ: typ(v1.HostPathSocket), wantErr: "is not a socket file"},
		{name: "CharDevice", path: "/dev/null", typ: typ(v1.HostPathCharDev)},
		{name: "CharDevice on a file", path: file, typ: typ(v1.HostPathCharDev), wantErr: "is not a character device"},
		{name: "BlockDevice on a char device", path: "/dev/null", typ: typ(v1.HostPathBlockDev), wantErr: "is not a block device"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkHostPath(&v1.HostPathVolumeSource{Path: tc.path, Type: tc.typ})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
			if tc.created {
				if _, err := os.Stat(tc.path); err != nil {
					t.Fatalf("not created: %v", err)
				}
			}
		})
	}
}

func TestContainerMounts(t *testing.T) {
	a := &Agent{opts: Options{RootDir: t.TempDir()}}
	host := t.TempDir()
	pod := &v1.Pod{}
	pod.UID = "u1"
	pod.Spec.Volumes = []v1.Volume{
		{Name: "cache", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: host}}},
	}
	c := &v1.Container{Name: "c", VolumeMounts: []v1.VolumeMount{
		{Name: "cache", MountPath: "/cache"},
		{Name: "host", MountPath: "/host", ReadOnly: true, SubPath: "sub"},
	}}
	ms, err := a.containerMounts(pod, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 4 {
		t.Fatalf("mounts = %+v", ms)
	}
	podDir := filepath.Join(a.opts.RootDir, "pods", "u1")
	if ms[2].Source != filepath.Join(podDir, "resolv.conf") || ms[2].Destination != "/etc/resolv.conf" ||
		ms[3].Source != filepath.Join(podDir, "etc-hosts") || ms[3].Destination != "/etc/hosts" {
		t.Errorf("pod file mounts = %+v", ms[2:])
	}
	if want := filepath.Join(a.volumeDir(pod), "cache"); ms[0].Source != want || ms[0].Destination != "/cache" || ms[0].Options[1] != "rw" {
		t.Errorf("emptyDir mount = %+v, want source %s rw", ms[0], want)
	}
	if ms[1].Source != filepath.Join(host, "sub") || ms[1].Options[1] != "ro" {
		t.Errorf("hostPath mount = %+v", ms[1])
	}
	if fi, err := os.Stat(filepath.Join(host, "sub")); err != nil || !fi.IsDir() {
		t.Errorf("subPath not created: %v", err)
	}
	c.VolumeMounts = []v1.VolumeMount{{Name: "missing", MountPath: "/x"}}
	if _, err := a.containerMounts(pod, c); err == nil || !strings.Contains(err.Error(), `volume "missing"`) {
		t.Errorf("missing volume error = %v", err)
	}
}
