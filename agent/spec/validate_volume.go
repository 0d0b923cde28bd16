package spec

import (
	"path"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedVolumes = []string{"emptyDir", "hostPath"}
	// apiVolumes are the volume types of ValidateFromAPIServer's pods.
	apiVolumes       = []string{"emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected"}
	projectedSources = []string{"serviceAccountToken", "configMap", "secret", "downwardAPI"}
	hostPathTypes    = []string{"", string(v1.HostPathBlockDev), string(v1.HostPathCharDev), string(v1.HostPathDirectory), string(v1.HostPathDirectoryOrCreate), string(v1.HostPathFile), string(v1.HostPathFileOrCreate), string(v1.HostPathSocket)}
)

// validateVolumes checks the pod's volumes and returns the set of their
// names for the volume mounts to refer to.
func validateVolumes(volumes []v1.Volume, fromAPI bool, fld *field.Path) (sets.Set[string], field.ErrorList) {
	var allErrs field.ErrorList
	names := sets.New[string]()
	for i := range volumes {
		vol := &volumes[i]
		p := fld.Index(i)
		switch {
		case vol.Name == "":
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		case names.Has(vol.Name):
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), vol.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(vol.Name) {
				allErrs = append(allErrs, field.Invalid(p.Child("name"), vol.Name, msg))
			}
		}
		if vol.Name != "" {
			names.Insert(vol.Name)
		}
		allErrs = append(allErrs, validateVolumeSource(&vol.VolumeSource, fromAPI, p)...)
	}
	return names, allErrs
}

func validateVolumeSource(src *v1.VolumeSource, fromAPI bool, fld *field.Path) field.ErrorList {
	set := setFields(src)
	switch {
	case len(set) == 0:
		return field.ErrorList{field.Required(fld, "must specify a volume type")}
	case len(set) > 1:
		return field.ErrorList{field.Forbidden(fld.Child(set[1]), "may not specify more than 1 volume type")}
	}
	var allErrs field.ErrorList
	switch {
	case src.EmptyDir != nil:
		if m := src.EmptyDir.Medium; m != v1.StorageMediumDefault && m != v1.StorageMediumMemory {
			allErrs = append(allErrs, field.NotSupported(fld.Child("emptyDir", "medium"), m, []string{"", string(v1.StorageMediumMemory)}))
		}
		if l := src.EmptyDir.SizeLimit; l != nil && l.Sign() < 0 {
			allErrs = append(allErrs, field.Invalid(fld.Child("emptyDir", "sizeLimit"), l.String(), isNegativeErrorMsg))
		}
		allErrs = append(allErrs, validateEmptyDirFields(src.EmptyDir, fld.Child("emptyDir"))...)
	case src.HostPath != nil:
		hp := src.HostPath
		p := fld.Child("hostPath", "path")
		switch {
		case hp.Path == "":
			allErrs = append(allErrs, field.Required(p, ""))
		case !path.IsAbs(hp.Path):
			allErrs = append(allErrs, field.Invalid(p, hp.Path, "must be an absolute path"))
		case containsDotDot(hp.Path):
			allErrs = append(allErrs, field.Invalid(p, hp.Path, "must not contain '..'"))
		}
		if hp.Type != nil && !sets.New(hostPathTypes...).Has(string(*hp.Type)) {
			allErrs = append(allErrs, field.NotSupported(fld.Child("hostPath", "type"), *hp.Type, hostPathTypes))
		}
	case fromAPI && (src.ConfigMap != nil || src.Secret != nil || src.DownwardAPI != nil):
		// The API server validated them; agent/apivolume reports a
		// content problem (a missing key, a bad path) when mounting.
	case fromAPI && src.Projected != nil:
		for i, ps := range src.Projected.Sources {
			p := fld.Child("projected", "sources").Index(i)
			switch {
			case ps.ServiceAccountToken != nil, ps.ConfigMap != nil, ps.Secret != nil, ps.DownwardAPI != nil:
			default:
				allErrs = append(allErrs, field.NotSupported(p, strings.Join(setFields(&ps), ","), projectedSources))
			}
		}
	case fromAPI:
		allErrs = append(allErrs, field.NotSupported(fld, set[0], apiVolumes))
	default:
		// configMap, secret, downwardAPI and projected volumes need an API
		// server to resolve them: only cluster mode has one.
		allErrs = append(allErrs, field.NotSupported(fld, set[0], supportedVolumes))
	}
	return allErrs
}

func containsDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}
