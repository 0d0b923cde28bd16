package spec

import (
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	seccompTypes          = []string{string(v1.SeccompProfileTypeLocalhost), string(v1.SeccompProfileTypeRuntimeDefault), string(v1.SeccompProfileTypeUnconfined)}
	appArmorSupported     = []string{string(v1.AppArmorProfileTypeUnconfined)}
	groupsPolicies        = []string{string(v1.SupplementalGroupsPolicyMerge), string(v1.SupplementalGroupsPolicyStrict)}
	fsGroupChangePolicies = []string{string(v1.FSGroupChangeAlways), string(v1.FSGroupChangeOnRootMismatch)}
	seLinuxChangePolicies = []string{string(v1.SELinuxChangePolicyMountOption), string(v1.SELinuxChangePolicyRecursive)}
	procMountSupported    = []string{string(v1.DefaultProcMount)}
)

// validatePodSecurityContext checks spec.securityContext: IDs and enums as
// the API server does, sysctls as the kubelet admits them (the safe set
// only, none in a namespace the pod shares with the host), and what
// miniagent cannot apply.
func validatePodSecurityContext(spec *v1.PodSpec, fld *field.Path) field.ErrorList {
	sc := spec.SecurityContext
	if sc == nil {
		return nil
	}
	allErrs := validateIDs(sc.RunAsUser, sc.RunAsGroup, fld)
	if sc.FSGroup != nil {
		allErrs = append(allErrs, validateGroupID(*sc.FSGroup, fld.Child("fsGroup"))...)
	}
	for i, g := range sc.SupplementalGroups {
		allErrs = append(allErrs, validateGroupID(g, fld.Child("supplementalGroups").Index(i))...)
	}
	if p := sc.SupplementalGroupsPolicy; p != nil {
		allErrs = append(allErrs, validateEnum(string(*p), groupsPolicies, fld.Child("supplementalGroupsPolicy"))...)
	}
	if p := sc.FSGroupChangePolicy; p != nil {
		allErrs = append(allErrs, validateEnum(string(*p), fsGroupChangePolicies, fld.Child("fsGroupChangePolicy"))...)
	}
	if p := sc.SELinuxChangePolicy; p != nil {
		allErrs = append(allErrs, validateEnum(string(*p), seLinuxChangePolicies, fld.Child("seLinuxChangePolicy"))...)
	}
	allErrs = append(allErrs, validateSysctls(sc.Sysctls, spec.HostNetwork, spec.HostIPC, fld.Child("sysctls"))...)
	return append(allErrs, validateProfiles(sc.SELinuxOptions, sc.WindowsOptions, sc.SeccompProfile, sc.AppArmorProfile, fld)...)
}

// validateSecurityContext checks a container's securityContext.
func validateSecurityContext(sc *v1.SecurityContext, fld *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	allErrs := validateIDs(sc.RunAsUser, sc.RunAsGroup, fld)
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			allErrs = append(allErrs, field.Invalid(fld, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Add {
				if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(string(c)), "CAP_"), "SYS_ADMIN") {
					allErrs = append(allErrs, field.Invalid(fld, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
				}
			}
		}
	}
	if pm := sc.ProcMount; pm != nil {
		// Unmasked needs hostUsers: false, which miniagent does not support.
		allErrs = append(allErrs, validateSupported(string(*pm), procMountSupported, fld.Child("procMount"))...)
	}
	return append(allErrs, validateProfiles(sc.SELinuxOptions, sc.WindowsOptions, sc.SeccompProfile, sc.AppArmorProfile, fld)...)
}

// validateProfiles checks the fields pod and container security contexts
// share: seccomp (all types), AppArmor (Unconfined only: miniagent loads no
// profiles), and no SELinux or Windows options.
func validateProfiles(se *v1.SELinuxOptions, win *v1.WindowsSecurityContextOptions, sp *v1.SeccompProfile, ap *v1.AppArmorProfile, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if se != nil {
		allErrs = append(allErrs, field.Forbidden(fld.Child("seLinuxOptions"), "not supported by miniagent: no SELinux labels are applied"))
	}
	if win != nil {
		allErrs = append(allErrs, field.Forbidden(fld.Child("windowsOptions"), "not supported by miniagent: a Linux node"))
	}
	if sp != nil {
		p := fld.Child("seccompProfile")
		allErrs = append(allErrs, validateEnum(string(sp.Type), seccompTypes, p.Child("type"))...)
		switch {
		case sp.Type == v1.SeccompProfileTypeLocalhost && sp.LocalhostProfile == nil:
			allErrs = append(allErrs, field.Required(p.Child("localhostProfile"), "must be set when seccomp type is Localhost"))
		case sp.Type == v1.SeccompProfileTypeLocalhost:
			allErrs = append(allErrs, validateLocalDescendingPath(*sp.LocalhostProfile, p.Child("localhostProfile"))...)
		case sp.LocalhostProfile != nil:
			allErrs = append(allErrs, field.Invalid(p.Child("localhostProfile"), *sp.LocalhostProfile, "can only be set when seccomp type is Localhost"))
		}
	}
	if ap != nil {
		allErrs = append(allErrs, validateSupported(string(ap.Type), appArmorSupported, fld.Child("appArmorProfile", "type"))...)
	}
	return allErrs
}

// validateSupported reports a value outside the subset miniagent supports.
func validateSupported(value string, supported []string, fld *field.Path) field.ErrorList {
	if sets.New(supported...).Has(value) {
		return nil
	}
	return field.ErrorList{field.NotSupported(fld, value, supported)}
}

func validateSysctls(sysctls []v1.Sysctl, hostNetwork, hostIPC bool, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := sets.New[string]()
	safe := sets.New(SafeSysctls...)
	for i, s := range sysctls {
		p := fld.Index(i).Child("name")
		name := SysctlName(s.Name)
		switch {
		case s.Name == "":
			allErrs = append(allErrs, field.Required(p, ""))
		case !isValidSysctlName(s.Name):
			allErrs = append(allErrs, field.Invalid(p, s.Name, "must have at most 253 characters and match regex "+sysctlNameRegexp.String()))
		case seen.Has(name):
			allErrs = append(allErrs, field.Duplicate(p, s.Name))
		case !safe.Has(name):
			allErrs = append(allErrs, field.Forbidden(p, "forbidden sysctl: \""+s.Name+"\" not allowlisted: miniagent allows the kubelet's safe sysctls only ("+strings.Join(SafeSysctls, ", ")+")"))
		case hostNetwork && strings.HasPrefix(name, "net."):
			allErrs = append(allErrs, field.Forbidden(p, "sysctl \""+s.Name+"\" not allowed with host net enabled"))
		case hostIPC && strings.HasPrefix(name, "kernel.shm"):
			allErrs = append(allErrs, field.Forbidden(p, "sysctl \""+s.Name+"\" not allowed with host ipc enabled"))
		}
		seen.Insert(name)
	}
	return allErrs
}
