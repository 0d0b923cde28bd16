package spec

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// UpdatableFields are the pod spec fields the API server lets an update
// change on an existing pod, in its words.
var UpdatableFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// ValidatePodUpdate checks an update of old to new (both defaulted) the
// way kube-apiserver's ValidatePodUpdate does: labels and annotations may
// change freely; in the spec only the container and init container
// images, activeDeadlineSeconds (set, or lowered; never raised or
// removed) and tolerations (only added; an existing one may change its
// tolerationSeconds) may. Anything else is one Forbidden error on "spec"
// with the API server's message and a diff of the rest.
func ValidatePodUpdate(newPod, oldPod *v1.Pod) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	if newPod.Name != oldPod.Name {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), newPod.Name, "field is immutable"))
	}
	if newPod.Namespace != oldPod.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), newPod.Namespace, "field is immutable"))
	}
	if err := onlyAddedTolerations(newPod.Spec.Tolerations, oldPod.Spec.Tolerations, specPath.Child("tolerations")); err != nil {
		errs = append(errs, err)
	}
	if d := newPod.Spec.ActiveDeadlineSeconds; d != nil {
		if *d < 0 || *d > math.MaxInt32 {
			return append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), *d, fmt.Sprintf("must be between %d and %d, inclusive", 0, math.MaxInt32)))
		}
		if o := oldPod.Spec.ActiveDeadlineSeconds; o != nil && *o < *d {
			return append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), *d, "must be less than or equal to previous value"))
		}
	} else if oldPod.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), newPod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}

	// Take over what may change from the old spec; what differs then is forbidden.
	munged := newPod.Spec.DeepCopy()
	for i := range munged.Containers {
		if i < len(oldPod.Spec.Containers) {
			munged.Containers[i].Image = oldPod.Spec.Containers[i].Image
		}
	}
	for i := range munged.InitContainers {
		if i < len(oldPod.Spec.InitContainers) {
			munged.InitContainers[i].Image = oldPod.Spec.InitContainers[i].Image
		}
	}
	munged.ActiveDeadlineSeconds = oldPod.Spec.ActiveDeadlineSeconds
	munged.Tolerations = oldPod.Spec.Tolerations
	if g := oldPod.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = g
	}
	if !apiequality.Semantic.DeepEqual(*munged, oldPod.Spec) {
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v",
			strings.Join(UpdatableFields, ","), diff.Diff(oldPod.Spec, *munged))))
	}
	return errs
}

// onlyAddedTolerations: every old toleration must still be there, changed
// at most in its tolerationSeconds.
func onlyAddedTolerations(newT, oldT []v1.Toleration, path *field.Path) *field.Error {
	for _, o := range oldT {
		found := false
		for _, n := range newT {
			c := o
			c.TolerationSeconds = n.TolerationSeconds
			if reflect.DeepEqual(c, n) {
				found = true
				break
			}
		}
		if !found {
			return field.Forbidden(path, "existing toleration can not be modified except its tolerationSeconds")
		}
	}
	return nil
}
