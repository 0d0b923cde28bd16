package spec

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// unsupported prefixes why miniagent rejects a field the API server would take.
const unsupported = "not supported by miniagent: "

var (
	// The built-in priority classes; miniagent has no PriorityClass objects.
	priorityClasses  = []string{"system-cluster-critical", "system-node-critical"}
	bindMountOptions = []string{"nodev", "noexec", "nosuid"}
	rroModes         = []string{string(v1.RecursiveReadOnlyDisabled), string(v1.RecursiveReadOnlyEnabled), string(v1.RecursiveReadOnlyIfPossible)}
)

// validatePodFields rejects the pod-level fields miniagent accepts from
// the API but cannot act on (see doc.go for the whole list), and checks
// the hostname fields it does act on.
func validatePodFields(spec *v1.PodSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	forbid := func(set bool, name, why string) {
		if set {
			allErrs = append(allErrs, field.Forbidden(fld.Child(name), unsupported+why))
		}
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	forbid(isTrue(spec.ShareProcessNamespace), "shareProcessNamespace", "every container has its own PID namespace")
	forbid(spec.HostUsers != nil && !*spec.HostUsers, "hostUsers", "no user namespaces")
	forbid(len(spec.ImagePullSecrets) > 0, "imagePullSecrets", "there are no secrets; images are pulled without credentials")
	forbid(len(spec.ReadinessGates) > 0, "readinessGates", "nothing could set the gates' conditions")
	forbid(spec.RuntimeClassName != nil, "runtimeClassName", "containers run with the one runtime handler miniagent has")
	forbid(len(spec.Overhead) > 0, "overhead", "it is set from a RuntimeClass")
	forbid(len(spec.SchedulingGates) > 0, "schedulingGates", "there is no scheduler to remove them")
	forbid(len(spec.ResourceClaims) > 0, "resourceClaims", "no dynamic resource allocation")
	forbid(spec.Resources != nil, "resources", "pod-level resources are not applied; set them per container")
	if spec.PriorityClassName != "" {
		allErrs = append(allErrs, validateSupported(spec.PriorityClassName, priorityClasses, fld.Child("priorityClassName"))...)
	}
	if o := spec.HostnameOverride; o != nil {
		p := fld.Child("hostnameOverride")
		for _, msg := range validation.IsDNS1123Subdomain(*o) {
			allErrs = append(allErrs, field.Invalid(p, *o, msg))
		}
		if len(*o) > 64 {
			allErrs = append(allErrs, field.TooLong(p, *o, 64))
		}
		if spec.HostNetwork {
			allErrs = append(allErrs, field.Forbidden(p, "may not be set when `hostNetwork` is true"))
		}
		if isTrue(spec.SetHostnameAsFQDN) {
			allErrs = append(allErrs, field.Forbidden(p, "may not be set when `setHostnameAsFQDN` is true"))
		}
	}
	if isTrue(spec.SetHostnameAsFQDN) && spec.Subdomain != "" {
		allErrs = append(allErrs, field.Forbidden(fld.Child("setHostnameAsFQDN"), unsupported+"there is no cluster domain to make the FQDN with spec.subdomain"))
	}
	return allErrs
}

// validateContainerFields rejects the container fields miniagent cannot act
// on and checks the volumeMount fields it applies.
func validateContainerFields(c *v1.Container, hostNetwork bool, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	forbid := func(set bool, p *field.Path, why string) {
		if set {
			allErrs = append(allErrs, field.Forbidden(p, unsupported+why))
		}
	}
	forbid(c.Lifecycle != nil, fld.Child("lifecycle"), "postStart and preStop hooks are not run")
	forbid(c.TerminationMessagePath != v1.TerminationMessagePathDefault, fld.Child("terminationMessagePath"), "the termination message is not read")
	forbid(c.TerminationMessagePolicy == v1.TerminationMessageFallbackToLogsOnError, fld.Child("terminationMessagePolicy"), "the termination message is not read")
	forbid(c.TTY && !c.Stdin, fld.Child("tty"), "a terminal needs `stdin: true` (nothing could type into it otherwise)")
	forbid(len(c.ResizePolicy) > 0, fld.Child("resizePolicy"), "resources are never resized in place")
	forbid(len(c.RestartPolicyRules) > 0, fld.Child("restartPolicyRules"), "restarts follow restartPolicy only")
	forbid(len(c.Resources.Claims) > 0, fld.Child("resources", "claims"), "no dynamic resource allocation")
	_, eph := c.Resources.Limits[v1.ResourceEphemeralStorage]
	forbid(eph, fld.Child("resources", "limits").Key(string(v1.ResourceEphemeralStorage)), "local storage use is not measured, so the limit is not enforced; set a request only")
	for i, p := range c.Ports {
		forbid(p.HostPort != 0 && !hostNetwork, fld.Child("ports").Index(i).Child("hostPort"),
			"without hostNetwork the pod has only a loopback interface, so nothing is forwarded from the host port")
	}
	privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
	for i, m := range c.VolumeMounts {
		p := fld.Child("volumeMounts").Index(i)
		propagates := m.MountPropagation != nil && *m.MountPropagation != v1.MountPropagationNone
		if m.MountPropagation != nil && *m.MountPropagation == v1.MountPropagationBidirectional && !privileged {
			allErrs = append(allErrs, field.Forbidden(p.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
		}
		if rro := m.RecursiveReadOnly; rro != nil {
			allErrs = append(allErrs, validateEnum(string(*rro), rroModes, p.Child("recursiveReadOnly"))...)
			if *rro != v1.RecursiveReadOnlyDisabled && !m.ReadOnly {
				allErrs = append(allErrs, field.Forbidden(p.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
			}
			if *rro == v1.RecursiveReadOnlyEnabled && propagates {
				allErrs = append(allErrs, field.Forbidden(p.Child("recursiveReadOnly"), "may only be specified when mountPropagation is None or not specified"))
			}
		}
		seen := sets.New[string]()
		for j, o := range m.BindMountOptions {
			op := p.Child("bindMountOptions").Index(j)
			if seen.Has(o) {
				allErrs = append(allErrs, field.Duplicate(op, o))
			}
			seen.Insert(o)
			allErrs = append(allErrs, validateSupported(o, bindMountOptions, op)...)
		}
	}
	return allErrs
}

// validateEmptyDirFields checks what miniagent applies of an emptyDir
// beyond the API server's checks.
func validateEmptyDirFields(ed *v1.EmptyDirVolumeSource, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if m := ed.Mode; m != nil && (*m < 0 || *m > 0o1777) {
		allErrs = append(allErrs, field.Invalid(fld.Child("mode"), *m, fmt.Sprintf("must be a number between 0 and 0%o (octal), both inclusive", 0o1777)))
	}
	if l := ed.SizeLimit; l != nil && !l.IsZero() && ed.Medium != v1.StorageMediumMemory {
		allErrs = append(allErrs, field.Forbidden(fld.Child("sizeLimit"), unsupported+"local storage use is not measured, so the limit is only enforced for medium: Memory (the tmpfs size)"))
	}
	return allErrs
}
