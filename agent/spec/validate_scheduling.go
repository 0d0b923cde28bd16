package spec

import (
	"strconv"

	v1 "k8s.io/api/core/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	taintEffects       = []string{string(v1.TaintEffectNoSchedule), string(v1.TaintEffectPreferNoSchedule), string(v1.TaintEffectNoExecute)}
	selectorOperators  = []string{string(v1.NodeSelectorOpDoesNotExist), string(v1.NodeSelectorOpExists), string(v1.NodeSelectorOpGt), string(v1.NodeSelectorOpIn), string(v1.NodeSelectorOpLt), string(v1.NodeSelectorOpNotIn)}
	tolerationOperator = []string{string(v1.TolerationOpEqual), string(v1.TolerationOpExists)}
)

func validateTolerations(tolerations []v1.Toleration, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, t := range tolerations {
		p := fld.Index(i)
		if t.Key != "" {
			allErrs = append(allErrs, metavalidation.ValidateLabelName(t.Key, p.Child("key"))...)
		}
		if t.Key == "" && t.Operator != v1.TolerationOpExists {
			allErrs = append(allErrs, field.Invalid(p.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		switch t.Operator {
		case v1.TolerationOpEqual, "":
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				allErrs = append(allErrs, field.Invalid(p.Child("value"), t.Value, msg))
			}
		case v1.TolerationOpExists:
			if t.Value != "" {
				allErrs = append(allErrs, field.Invalid(p.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			allErrs = append(allErrs, field.NotSupported(p.Child("operator"), t.Operator, tolerationOperator))
		}
		if t.TolerationSeconds != nil && t.Effect != v1.TaintEffectNoExecute {
			allErrs = append(allErrs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		if t.Effect != "" {
			allErrs = append(allErrs, validateEnum(string(t.Effect), taintEffects, p.Child("effect"))...)
		}
	}
	return allErrs
}

func validateAffinity(a *v1.Affinity, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if na := a.NodeAffinity; na != nil {
		p := fld.Child("nodeAffinity")
		if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			rp := p.Child("requiredDuringSchedulingIgnoredDuringExecution")
			if len(req.NodeSelectorTerms) == 0 {
				allErrs = append(allErrs, field.Required(rp.Child("nodeSelectorTerms"), "must have at least one node selector term"))
			}
			for i := range req.NodeSelectorTerms {
				allErrs = append(allErrs, validateNodeSelectorTerm(&req.NodeSelectorTerms[i], rp.Child("nodeSelectorTerms").Index(i))...)
			}
		}
		for i, pref := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			pp := p.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
			if pref.Weight < 1 || pref.Weight > 100 {
				allErrs = append(allErrs, field.Invalid(pp.Child("weight"), pref.Weight, "must be in the range 1-100"))
			}
			allErrs = append(allErrs, validateNodeSelectorTerm(&pref.Preference, pp.Child("preference"))...)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		allErrs = append(allErrs, validatePodAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, fld.Child("podAffinity"))...)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		allErrs = append(allErrs, validatePodAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution, fld.Child("podAntiAffinity"))...)
	}
	return allErrs
}

func validateNodeSelectorTerm(term *v1.NodeSelectorTerm, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, r := range term.MatchExpressions {
		p := fld.Child("matchExpressions").Index(i)
		allErrs = append(allErrs, metavalidation.ValidateLabelName(r.Key, p.Child("key"))...)
		allErrs = append(allErrs, validateSelectorRequirement(r, p)...)
	}
	for i, r := range term.MatchFields {
		p := fld.Child("matchFields").Index(i)
		if r.Key != "metadata.name" {
			allErrs = append(allErrs, field.NotSupported(p.Child("key"), r.Key, []string{"metadata.name"}))
		}
		if (r.Operator != v1.NodeSelectorOpIn && r.Operator != v1.NodeSelectorOpNotIn) || len(r.Values) != 1 {
			allErrs = append(allErrs, field.Invalid(p, r.Operator, "must be 'In' or 'NotIn' with exactly one value"))
		}
	}
	return allErrs
}

func validateSelectorRequirement(r v1.NodeSelectorRequirement, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch r.Operator {
	case v1.NodeSelectorOpIn, v1.NodeSelectorOpNotIn:
		if len(r.Values) == 0 {
			allErrs = append(allErrs, field.Required(fld.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
		}
	case v1.NodeSelectorOpExists, v1.NodeSelectorOpDoesNotExist:
		if len(r.Values) > 0 {
			allErrs = append(allErrs, field.Forbidden(fld.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
		}
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if len(r.Values) != 1 {
			allErrs = append(allErrs, field.Required(fld.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
		} else if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
			allErrs = append(allErrs, field.Invalid(fld.Child("values").Index(0), r.Values[0], "must be an integer"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fld.Child("operator"), r.Operator, selectorOperators))
	}
	return allErrs
}

func validatePodAffinityTerms(req []v1.PodAffinityTerm, pref []v1.WeightedPodAffinityTerm, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i := range req {
		allErrs = append(allErrs, validatePodAffinityTerm(&req[i], fld.Child("requiredDuringSchedulingIgnoredDuringExecution").Index(i))...)
	}
	for i := range pref {
		p := fld.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
		if pref[i].Weight < 1 || pref[i].Weight > 100 {
			allErrs = append(allErrs, field.Invalid(p.Child("weight"), pref[i].Weight, "must be in the range 1-100"))
		}
		allErrs = append(allErrs, validatePodAffinityTerm(&pref[i].PodAffinityTerm, p.Child("podAffinityTerm"))...)
	}
	return allErrs
}

func validatePodAffinityTerm(t *v1.PodAffinityTerm, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	opts := metavalidation.LabelSelectorValidationOptions{}
	allErrs = append(allErrs, metavalidation.ValidateLabelSelector(t.LabelSelector, opts, fld.Child("labelSelector"))...)
	allErrs = append(allErrs, metavalidation.ValidateLabelSelector(t.NamespaceSelector, opts, fld.Child("namespaceSelector"))...)
	for i, ns := range t.Namespaces {
		for _, msg := range validation.IsDNS1123Label(ns) {
			allErrs = append(allErrs, field.Invalid(fld.Child("namespaces").Index(i), ns, msg))
		}
	}
	if t.TopologyKey == "" {
		allErrs = append(allErrs, field.Required(fld.Child("topologyKey"), "can not be empty"))
	} else {
		allErrs = append(allErrs, metavalidation.ValidateLabelName(t.TopologyKey, fld.Child("topologyKey"))...)
	}
	return allErrs
}
