package spec

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// resourceKind classifies a container resource name.
type resourceKind int

const (
	resourceInvalid  resourceKind = iota
	resourceStandard              // cpu, memory, ephemeral-storage: may be overcommitted
	resourceHugePage              // hugepages-<size>: request must equal limit
	resourceExtended              // example.com/gpu: integer, request must equal limit
)

// classifyResource returns the kind of name or the API server's message for
// a name a container may not use.
func classifyResource(name v1.ResourceName) (resourceKind, string) {
	s := string(name)
	switch {
	case name == v1.ResourceCPU || name == v1.ResourceMemory || name == v1.ResourceEphemeralStorage:
		return resourceStandard, ""
	case strings.HasPrefix(s, v1.ResourceHugePagesPrefix):
		if _, err := resource.ParseQuantity(strings.TrimPrefix(s, v1.ResourceHugePagesPrefix)); err != nil {
			return resourceInvalid, "must be a standard resource for containers"
		}
		return resourceHugePage, ""
	case !strings.Contains(s, "/"):
		return resourceInvalid, "must be a standard resource for containers"
	}
	if msgs := validation.IsQualifiedName(s); len(msgs) > 0 {
		return resourceInvalid, strings.Join(msgs, "; ")
	}
	if strings.Contains(s, "kubernetes.io/") || strings.HasPrefix(s, "requests.") {
		return resourceInvalid, "must be a standard resource for containers"
	}
	return resourceExtended, ""
}

func validateResources(r *v1.ResourceRequirements, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	limPath, reqPath := fld.Child("limits"), fld.Child("requests")
	hugePages := false
	for _, name := range sortedNames(r.Limits) {
		q := r.Limits[name]
		allErrs = append(allErrs, validateQuantity(name, q, limPath.Key(string(name)))...)
		if k, _ := classifyResource(name); k == resourceHugePage {
			hugePages = true
		}
	}
	for _, name := range sortedNames(r.Requests) {
		q := r.Requests[name]
		p := reqPath.Key(string(name))
		allErrs = append(allErrs, validateQuantity(name, q, p)...)
		kind, _ := classifyResource(name)
		if kind == resourceHugePage {
			hugePages = true
		}
		limit, hasLimit := r.Limits[name]
		switch {
		case kind == resourceInvalid:
		case kind == resourceStandard && hasLimit && q.Cmp(limit) > 0:
			allErrs = append(allErrs, field.Invalid(p, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case kind != resourceStandard && !hasLimit:
			allErrs = append(allErrs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		case kind != resourceStandard && q.Cmp(limit) != 0:
			allErrs = append(allErrs, field.Invalid(p, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		}
	}
	if hugePages && !hasCPUOrMemory(r.Limits) && !hasCPUOrMemory(r.Requests) {
		allErrs = append(allErrs, field.Forbidden(fld, "HugePages require cpu or memory"))
	}
	return allErrs
}

func validateQuantity(name v1.ResourceName, q resource.Quantity, fld *field.Path) field.ErrorList {
	kind, msg := classifyResource(name)
	if kind == resourceInvalid {
		return field.ErrorList{field.Invalid(fld, name, msg)}
	}
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(fld, q.String(), isNegativeErrorMsg)}
	}
	if kind == resourceExtended && q.MilliValue()%1000 != 0 {
		return field.ErrorList{field.Invalid(fld, q.String(), "must be an integer")}
	}
	return nil
}

func hasCPUOrMemory(l v1.ResourceList) bool {
	_, cpu := l[v1.ResourceCPU]
	_, mem := l[v1.ResourceMemory]
	return cpu || mem
}

func sortedNames(l v1.ResourceList) []v1.ResourceName {
	names := make([]v1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// setFields returns the JSON names of the non-nil pointer fields of the
// struct v points to, in declaration order: which handler types of a probe,
// which sources of a volume or env var are set.
func setFields(v any) []string {
	rv := reflect.ValueOf(v).Elem()
	var set []string
	for i := 0; i < rv.NumField(); i++ {
		f := rv.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
		set = append(set, name)
	}
	return set
}
