package containerd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/miniagent/miniagent/cgroups"
	"github.com/miniagent/miniagent/runtime"
)

// withPropagation prepares the mounts whose options ask for propagation, as
// the CRI does: an "rshared" mount (Bidirectional) needs a shared source
// mount and makes the root filesystem rshared; an "rslave" mount
// (HostToContainer) needs a shared or slave source and makes the root at
// least rslave. Without such mounts the root stays rprivate (runc's default).
func withPropagation(mounts []runtime.Mount) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		var mountinfo []byte
		for _, m := range mounts {
			shared, slave := slices.Contains(m.Options, "rshared"), slices.Contains(m.Options, "rslave")
			if !shared && !slave {
				continue
			}
			if mountinfo == nil {
				var err error
				if mountinfo, err = os.ReadFile("/proc/self/mountinfo"); err != nil {
					return err
				}
			}
			src, err := filepath.EvalSymlinks(m.Source)
			if err != nil {
				return fmt.Errorf("mount %s: %w", m.Destination, err)
			}
			mp, isShared, isSlave := propagationOf(mountinfo, src)
			if s.Linux == nil {
				s.Linux = &specs.Linux{}
			}
			switch {
			case shared && !isShared:
				return fmt.Errorf("path %q is mounted on %q but it is not a shared mount", src, mp)
			case shared:
				s.Linux.RootfsPropagation = "rshared"
			case !isShared && !isSlave:
				return fmt.Errorf("path %q is mounted on %q but it is not a shared or slave mount", src, mp)
			case s.Linux.RootfsPropagation != "rshared":
				s.Linux.RootfsPropagation = "rslave"
			}
		}
		return nil
	}
}

// propagationOf finds the mount path is on in mountinfo (the last, topmost,
// of the longest mount point above it) and tells whether it is shared
// (optional field shared:N) or a slave (master:N).
func propagationOf(mountinfo []byte, path string) (mountPoint string, shared, slave bool) {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		mp := cgroups.UnescapeMountinfo(f[4])
		if !isUnder(path, mp) || len(mp) < len(mountPoint) {
			continue
		}
		mountPoint, shared, slave = mp, false, false
		for _, opt := range f[6:] {
			if opt == "-" {
				break
			}
			shared = shared || strings.HasPrefix(opt, "shared:")
			slave = slave || strings.HasPrefix(opt, "master:")
		}
	}
	return mountPoint, shared, slave
}

func isUnder(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}
