package agent

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
)

// mountOptions are the bind mount options of a volumeMount: ro or rw;
// "rro" (read-only all the way down, submounts too) for recursiveReadOnly
// Enabled, and for IfPossible when the kernel can (rro); then the
// bindMountOptions (noexec, nodev, nosuid, as validated).
func mountOptions(vm v1.VolumeMount, rro bool) []string {
	opts := []string{"rbind", "rw"}
	if vm.ReadOnly {
		opts[1] = "ro"
		if m := vm.RecursiveReadOnly; m != nil && (*m == v1.RecursiveReadOnlyEnabled || (*m == v1.RecursiveReadOnlyIfPossible && rro)) {
			opts = append(opts, "rro")
		}
	}
	return append(opts, vm.BindMountOptions...)
}

// recursiveReadOnlySupported tells whether the kernel has mount_setattr
// (Linux 5.12), which runc needs for "rro" mounts.
var recursiveReadOnlySupported = sync.OnceValue(func() bool {
	err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
})
