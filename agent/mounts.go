package agent

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
)

// mountOptions are the bind mount options of a volumeMount: ro or rw;
// "rro" (read-only all the way down, submounts too) for recursiveReadOnly
// Enabled, and for IfPossible when the kernel can (rro); "rslave" for
// mountPropagation HostToContainer and "rshared" for Bidirectional (the
// runtime checks the source and sets the root's propagation); then the
// bindMountOptions (noexec, nodev, nosuid, as validated).
func mountOptions(vm v1.VolumeMount, rro bool) []string {
	opts := []string{"rbind", "rw"}
	if vm.ReadOnly {
		opts[1] = "ro"
		if m := vm.RecursiveReadOnly; m != nil && (*m == v1.RecursiveReadOnlyEnabled || (*m == v1.RecursiveReadOnlyIfPossible && rro)) {
			opts = append(opts, "rro")
		}
	}
	if p := vm.MountPropagation; p != nil {
		switch *p {
		case v1.MountPropagationHostToContainer:
			opts = append(opts, "rslave")
		case v1.MountPropagationBidirectional:
			opts = append(opts, "rshared")
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
