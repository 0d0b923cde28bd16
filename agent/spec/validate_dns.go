package spec

import (
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The API server's limits on dnsConfig.
const (
	maxDNSNameservers  = 3
	maxDNSSearchPaths  = 32
	maxDNSSearchLength = 2048
)

// validateDNS checks dnsConfig and hostAliases as the API server does.
func validateDNS(spec *v1.PodSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	c := spec.DNSConfig
	if spec.DNSPolicy == v1.DNSNone {
		switch {
		case c == nil:
			allErrs = append(allErrs, field.Required(fld.Child("dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None"))
		case len(c.Nameservers) == 0:
			allErrs = append(allErrs, field.Required(fld.Child("dnsConfig", "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"))
		}
	}
	if c != nil {
		p := fld.Child("dnsConfig")
		if len(c.Nameservers) > maxDNSNameservers {
			allErrs = append(allErrs, field.Invalid(p.Child("nameservers"), c.Nameservers, "must not have more than 3 nameservers"))
		}
		for i, ns := range c.Nameservers {
			allErrs = append(allErrs, validation.IsValidIP(p.Child("nameservers").Index(i), ns)...)
		}
		if len(c.Searches) > maxDNSSearchPaths {
			allErrs = append(allErrs, field.Invalid(p.Child("searches"), c.Searches, "must not have more than 32 search paths"))
		}
		if n := len(strings.Join(c.Searches, " ")); n > maxDNSSearchLength {
			allErrs = append(allErrs, field.Invalid(p.Child("searches"), c.Searches, "must not have more than 2048 characters (including spaces) in the search list"))
		}
		for i, s := range c.Searches {
			for _, msg := range validation.IsDNS1123Subdomain(strings.TrimSuffix(s, ".")) {
				allErrs = append(allErrs, field.Invalid(p.Child("searches").Index(i), s, msg))
			}
		}
		for i, o := range c.Options {
			if o.Name == "" {
				allErrs = append(allErrs, field.Required(p.Child("options").Index(i), "Option.Name must not be empty"))
			}
		}
	}
	for i, h := range spec.HostAliases {
		p := fld.Child("hostAliases").Index(i)
		allErrs = append(allErrs, validation.IsValidIP(p.Child("ip"), h.IP)...)
		for j, name := range h.Hostnames {
			for _, msg := range validation.IsDNS1123Subdomain(name) {
				allErrs = append(allErrs, field.Invalid(p.Child("hostnames").Index(j), name, msg))
			}
		}
	}
	return allErrs
}
