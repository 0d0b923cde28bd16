package containerd

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/miniagent/miniagent/runtime"
)

// securityOpts are the spec options for what the securityContexts ask of
// the process, applied after its user and group are set: supplementary
// groups, capabilities, privileged, no_new_privs, a read-only root,
// seccomp and sysctls. ic is the image's config.
func securityOpts(ic ocispec.ImageConfig, spec runtime.ContainerSpec) []oci.SpecOpts {
	var opts []oci.SpecOpts
	// Setting the user or group resets the groups the image config gave;
	// compute them again whenever any of it is overridden.
	if spec.RunAsUser != nil || spec.RunAsGroup != nil || spec.StrictSupplementalGroups || len(spec.SupplementalGroups) > 0 {
		opts = append(opts, withGroups(groupsUser(ic.User, spec.RunAsUser), !spec.StrictSupplementalGroups, spec.SupplementalGroups))
	}
	if len(spec.AddCapabilities) > 0 || len(spec.DropCapabilities) > 0 {
		opts = append(opts, withCapabilities(spec.AddCapabilities, spec.DropCapabilities))
	}
	if spec.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
	}
	// containerd's default spec sets no_new_privs; Kubernetes leaves it off
	// unless allowPrivilegeEscalation is false.
	opts = append(opts, withNoNewPrivileges(spec.NoNewPrivileges))
	if spec.ReadOnlyRootfs {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	switch {
	case spec.Seccomp == "" || spec.Privileged: // privileged containers run unconfined, as with the CRI
	case spec.Seccomp == runtime.SeccompRuntimeDefault:
		opts = append(opts, seccomp.WithDefaultProfile()) // after the capabilities: the profile depends on them
	default:
		opts = append(opts, seccomp.WithProfile(spec.Seccomp))
	}
	if len(spec.Sysctls) > 0 {
		opts = append(opts, withSysctls(spec.Sysctls))
	}
	return opts
}

// groupsUser is the user whose /etc/group memberships the process gets:
// runAsUser if set, else the image's user (without its group), else root.
func groupsUser(imageUser string, runAsUser *int64) string {
	if runAsUser != nil {
		return strconv.FormatInt(*runAsUser, 10)
	}
	if u, _, _ := strings.Cut(imageUser, ":"); u != "" {
		return u
	}
	return "0"
}

// withGroups sets the process's supplementary groups: its primary group,
// then, if merge, the groups the image's /etc/group lists user in, then
// extra; each once.
func withGroups(user string, merge bool, extra []int64) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.User.AdditionalGids = []uint32{s.Process.User.GID}
		if merge {
			// Looks user up in the image's /etc/passwd and /etc/group; a user
			// or file that is not there adds nothing. Keeps the primary group.
			if err := oci.WithAdditionalGIDs(user)(ctx, client, c, s); err != nil {
				return err
			}
		}
		for _, g := range extra {
			if gid := uint32(g); !slices.Contains(s.Process.User.AdditionalGids, gid) {
				s.Process.User.AdditionalGids = append(s.Process.User.AdditionalGids, gid)
			}
		}
		return nil
	}
}

// withCapabilities adds and drops capabilities named as in Kubernetes
// (without the CAP_ prefix) the way the CRI does: "ALL" in add grants every
// capability this process has and "ALL" in drop removes every one, before
// the single names are added and dropped.
func withCapabilities(add, drop []string) oci.SpecOpts {
	var opts []oci.SpecOpts
	if slices.ContainsFunc(add, isAll) {
		opts = append(opts, oci.WithAllCurrentCapabilities)
	}
	if slices.ContainsFunc(drop, isAll) {
		opts = append(opts, oci.WithCapabilities(nil))
	}
	return oci.Compose(append(opts,
		oci.WithAddedCapabilities(capNames(add)),
		oci.WithDroppedCapabilities(capNames(drop)))...)
}

func isAll(name string) bool { return strings.EqualFold(name, "ALL") }

// capNames turns Kubernetes capability names into OCI ones (CAP_NET_ADMIN),
// leaving out "ALL".
func capNames(names []string) []string {
	out := []string{}
	for _, n := range names {
		if !isAll(n) {
			out = append(out, "CAP_"+strings.TrimPrefix(strings.ToUpper(n), "CAP_"))
		}
	}
	return out
}

func withNoNewPrivileges(on bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.NoNewPrivileges = on
		return nil
	}
}

// withSysctls sets namespaced sysctls; runc writes them inside the
// container's (the pod's) network and IPC namespaces.
func withSysctls(sysctls map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for k, v := range sysctls {
			s.Linux.Sysctl[k] = v
		}
		return nil
	}
}
