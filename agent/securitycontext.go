package agent

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/agent/spec"
	"github.com/miniagent/miniagent/runtime"
)

// applySecurityContext sets in rs what the pod's and the container's
// securityContexts ask of the container's process, the container's value
// winning where both may set a field, and refuses a container that would
// break runAsNonRoot, as the kubelet does. imageUser is the image's USER;
// seccompDir holds the Localhost seccomp profiles (<root-dir>/seccomp).
//
// What validation lets through and this does not apply has no effect by
// design (see agent/spec/doc.go): AppArmor Unconfined (the runtime's
// default here), procMount Default, fsGroupChangePolicy and
// seLinuxChangePolicy.
func applySecurityContext(rs *runtime.ContainerSpec, pod *v1.Pod, c *v1.Container, imageUser, seccompDir string) error {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &v1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &v1.SecurityContext{}
	}
	rs.RunAsUser = firstSet(csc.RunAsUser, psc.RunAsUser)
	rs.RunAsGroup = firstSet(csc.RunAsGroup, psc.RunAsGroup)
	if err := verifyRunAsNonRoot(pod, c, firstSet(csc.RunAsNonRoot, psc.RunAsNonRoot), rs.RunAsUser, imageUser); err != nil {
		return err
	}
	rs.SupplementalGroups = supplementalGroups(psc)
	rs.StrictSupplementalGroups = psc.SupplementalGroupsPolicy != nil && *psc.SupplementalGroupsPolicy == v1.SupplementalGroupsPolicyStrict
	if caps := csc.Capabilities; caps != nil {
		rs.AddCapabilities = capabilityNames(caps.Add)
		rs.DropCapabilities = capabilityNames(caps.Drop)
	}
	rs.Privileged = csc.Privileged != nil && *csc.Privileged
	rs.NoNewPrivileges = csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation
	rs.ReadOnlyRootfs = csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem
	seccomp, err := seccompProfile(firstSet(csc.SeccompProfile, psc.SeccompProfile), seccompDir)
	if err != nil {
		return err
	}
	rs.Seccomp = seccomp
	rs.HostPID = pod.Spec.HostPID
	if len(psc.Sysctls) > 0 {
		rs.Sysctls = make(map[string]string, len(psc.Sysctls))
		for _, s := range psc.Sysctls {
			rs.Sysctls[spec.SysctlName(s.Name)] = s.Value
		}
	}
	return nil
}

// firstSet returns the first non-nil pointer (the container's, then the pod's).
func firstSet[T any](ptrs ...*T) *T {
	for _, p := range ptrs {
		if p != nil {
			return p
		}
	}
	return nil
}

// supplementalGroups are the groups the pod adds to every process, as the
// kubelet orders them: fsGroup, then supplementalGroups.
func supplementalGroups(psc *v1.PodSecurityContext) []int64 {
	var groups []int64
	if psc.FSGroup != nil {
		groups = append(groups, *psc.FSGroup)
	}
	return append(groups, psc.SupplementalGroups...)
}

func capabilityNames(caps []v1.Capability) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		out = append(out, string(c))
	}
	return out
}

// seccompProfile turns a seccomp profile into runtime.ContainerSpec.Seccomp:
// unset and Unconfined run without seccomp (the kubelet's default),
// RuntimeDefault gets containerd's profile, Localhost the JSON file below
// dir, as the kubelet's <root-dir>/seccomp.
func seccompProfile(p *v1.SeccompProfile, dir string) (string, error) {
	if p == nil {
		return "", nil
	}
	switch p.Type {
	case v1.SeccompProfileTypeUnconfined:
		return "", nil
	case v1.SeccompProfileTypeRuntimeDefault:
		return runtime.SeccompRuntimeDefault, nil
	case v1.SeccompProfileTypeLocalhost:
		if p.LocalhostProfile == nil || *p.LocalhostProfile == "" {
			return "", fmt.Errorf("localhost seccomp profile has no path")
		}
		return filepath.Join(dir, filepath.Clean("/"+*p.LocalhostProfile)), nil
	}
	return "", fmt.Errorf("seccomp profile type %q is not supported", p.Type)
}

// verifyRunAsNonRoot refuses, with the kubelet's words, a container that
// must not run as root but would: its runAsUser is 0, or it has none and
// the image's user is root or unset, or a name that cannot be checked.
func verifyRunAsNonRoot(pod *v1.Pod, c *v1.Container, nonRoot *bool, runAsUser *int64, imageUser string) error {
	if nonRoot == nil || !*nonRoot {
		return nil
	}
	where := fmt.Sprintf("(pod: %q, container: %s)", podFullName(pod), c.Name)
	if runAsUser != nil {
		if *runAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy %s", where)
		}
		return nil
	}
	user, _, _ := strings.Cut(imageUser, ":")
	if user == "" {
		return fmt.Errorf("container has runAsNonRoot and image will run as root %s", where)
	}
	uid, err := strconv.ParseInt(user, 10, 64)
	switch {
	case err != nil:
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root %s", user, where)
	case uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root %s", where)
	}
	return nil
}
