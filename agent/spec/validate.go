package spec

import (
	"math"

	v1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Messages shared with the API server's wording.
const (
	isNegativeErrorMsg    = "must be greater than or equal to 0"
	isNotPositiveErrorMsg = "must be greater than zero"
)

var (
	restartPolicies = []string{string(v1.RestartPolicyAlways), string(v1.RestartPolicyOnFailure), string(v1.RestartPolicyNever)}
	dnsPolicies     = []string{string(v1.DNSClusterFirstWithHostNet), string(v1.DNSClusterFirst), string(v1.DNSDefault), string(v1.DNSNone)}
)

// Validate checks a defaulted pod the way the API server would for the
// fields miniagent uses, and returns every problem with its field path.
func Validate(pod *v1.Pod) field.ErrorList { return validate(pod, false) }

// ValidateFromAPIServer is Validate for a pod an API server bound to this
// node (cluster mode): it also accepts the volumes whose content comes
// from the API server (configMap, secret, downwardAPI and projected with
// serviceAccountToken, configMap, secret and downwardAPI sources), which
// a standalone agent cannot resolve.
func ValidateFromAPIServer(pod *v1.Pod) field.ErrorList { return validate(pod, true) }

func validate(pod *v1.Pod, apiVolumes bool) field.ErrorList {
	allErrs := apivalidation.ValidateObjectMeta(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validatePodSpec(&pod.Spec, apiVolumes, field.NewPath("spec"))...)
}

// ValidateUpdate checks newPod, which replaces oldPod (same namespace and
// name). The whole spec may change; identity (namespace, name, uid) may not.
func ValidateUpdate(newPod, oldPod *v1.Pod) field.ErrorList {
	allErrs := Validate(newPod)
	meta := field.NewPath("metadata")
	if newPod.Namespace != oldPod.Namespace {
		allErrs = append(allErrs, field.Invalid(meta.Child("namespace"), newPod.Namespace, "field is immutable"))
	}
	if newPod.Name != oldPod.Name {
		allErrs = append(allErrs, field.Invalid(meta.Child("name"), newPod.Name, "field is immutable"))
	}
	if newPod.UID != "" && oldPod.UID != "" && newPod.UID != oldPod.UID {
		allErrs = append(allErrs, field.Invalid(meta.Child("uid"), newPod.UID, "field is immutable"))
	}
	return allErrs
}

func validatePodSpec(spec *v1.PodSpec, apiVolumes bool, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	volumes, errs := validateVolumes(spec.Volumes, apiVolumes, fld.Child("volumes"))
	allErrs = append(allErrs, errs...)

	if len(spec.Containers) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("containers"), ""))
	}
	names := sets.New[string]()
	for i := range spec.InitContainers {
		allErrs = append(allErrs, validateContainer(&spec.InitContainers[i], true, spec, volumes, names, fld.Child("initContainers").Index(i))...)
	}
	for i := range spec.Containers {
		allErrs = append(allErrs, validateContainer(&spec.Containers[i], false, spec, volumes, names, fld.Child("containers").Index(i))...)
	}
	if len(spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(fld.Child("ephemeralContainers"), "not supported by miniagent"))
	}

	allErrs = append(allErrs, validateEnum(string(spec.RestartPolicy), restartPolicies, fld.Child("restartPolicy"))...)
	allErrs = append(allErrs, validateEnum(string(spec.DNSPolicy), dnsPolicies, fld.Child("dnsPolicy"))...)
	if spec.TerminationGracePeriodSeconds != nil {
		allErrs = append(allErrs, apivalidation.ValidateNonnegativeField(*spec.TerminationGracePeriodSeconds, fld.Child("terminationGracePeriodSeconds"))...)
	}
	if d := spec.ActiveDeadlineSeconds; d != nil && (*d < 1 || *d > math.MaxInt32) {
		allErrs = append(allErrs, field.Invalid(fld.Child("activeDeadlineSeconds"), *d, validation.InclusiveRangeError(1, math.MaxInt32)))
	}
	if spec.Hostname != "" {
		for _, msg := range validation.IsDNS1123Label(spec.Hostname) {
			allErrs = append(allErrs, field.Invalid(fld.Child("hostname"), spec.Hostname, msg))
		}
	}
	if spec.Subdomain != "" {
		for _, msg := range validation.IsDNS1123Label(spec.Subdomain) {
			allErrs = append(allErrs, field.Invalid(fld.Child("subdomain"), spec.Subdomain, msg))
		}
	}
	allErrs = append(allErrs, validateDNS(spec, fld)...)
	allErrs = append(allErrs, validatePodSecurityContext(spec, fld.Child("securityContext"))...)
	allErrs = append(allErrs, validatePodFields(spec, fld)...)
	allErrs = append(allErrs, metavalidation.ValidateLabels(spec.NodeSelector, fld.Child("nodeSelector"))...)
	allErrs = append(allErrs, validateTolerations(spec.Tolerations, fld.Child("tolerations"))...)
	if spec.Affinity != nil {
		allErrs = append(allErrs, validateAffinity(spec.Affinity, fld.Child("affinity"))...)
	}
	return allErrs
}

// validateEnum reports an empty value as required and anything outside
// supported as unsupported.
func validateEnum(value string, supported []string, fld *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fld, "")}
	}
	for _, s := range supported {
		if value == s {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(fld, value, supported)}
}

func validateIDs(user, group *int64, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if user != nil {
		for _, msg := range validation.IsValidUserID(*user) {
			allErrs = append(allErrs, field.Invalid(fld.Child("runAsUser"), *user, msg))
		}
	}
	if group != nil {
		allErrs = append(allErrs, validateGroupID(*group, fld.Child("runAsGroup"))...)
	}
	return allErrs
}

func validateGroupID(gid int64, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsValidGroupID(gid) {
		allErrs = append(allErrs, field.Invalid(fld, gid, msg))
	}
	return allErrs
}
