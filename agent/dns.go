package agent

import (
	"bufio"
	"bytes"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// The kubelet's limits on a pod's resolv.conf.
const (
	maxNameservers     = 3
	maxSearchDomains   = 32
	maxSearchListChars = 2048
)

// resolvConf is what a resolv.conf says.
type resolvConf struct {
	nameservers, searches, options []string
}

// parseResolvConf reads the nameserver, search (or domain) and options lines
// of a resolv.conf.
func parseResolvConf(data []byte) resolvConf {
	var rc resolvConf
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line, _, _ = strings.Cut(line, ";")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			rc.nameservers = append(rc.nameservers, f[1])
		case "search", "domain":
			// The last search or domain line wins, as in the resolver.
			rc.searches = nil
			for _, s := range f[1:] {
				if s = strings.TrimSuffix(s, "."); s != "" {
					rc.searches = append(rc.searches, s)
				}
			}
		case "options":
			rc.options = append(rc.options, f[1:]...)
		}
	}
	return rc
}

// podResolvConf is the resolv.conf the pod's containers get, from the node's
// (host) and the pod's dnsPolicy and dnsConfig, as the kubelet makes it when
// it has no cluster DNS (no --cluster-dns): Default, ClusterFirst and
// ClusterFirstWithHostNet all start from the node's resolv.conf (the
// kubelet falls back from ClusterFirst to Default without a cluster DNS
// server), None from nothing; then dnsConfig adds its nameservers and
// searches and sets its options. At most 3 nameservers and 32 search
// domains of 2048 characters in all are kept.
func podResolvConf(pod *v1.Pod, host []byte) []byte {
	var rc resolvConf
	if pod.Spec.DNSPolicy != v1.DNSNone {
		rc = parseResolvConf(host)
	}
	if c := pod.Spec.DNSConfig; c != nil {
		rc.nameservers = appendNew(rc.nameservers, c.Nameservers...)
		rc.searches = appendNew(rc.searches, c.Searches...)
		rc.options = mergeOptions(rc.options, c.Options)
	}
	if len(rc.nameservers) > maxNameservers {
		rc.nameservers = rc.nameservers[:maxNameservers]
	}
	rc.searches = limitSearches(rc.searches)

	var b bytes.Buffer
	if len(rc.searches) > 0 {
		b.WriteString("search " + strings.Join(rc.searches, " ") + "\n")
	}
	for _, ns := range rc.nameservers {
		b.WriteString("nameserver " + ns + "\n")
	}
	if len(rc.options) > 0 {
		b.WriteString("options " + strings.Join(rc.options, " ") + "\n")
	}
	return b.Bytes()
}

// appendNew appends the values not in list yet.
func appendNew(list []string, values ...string) []string {
	for _, v := range values {
		if !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// mergeOptions sets the pod's options over the node's: an option of the
// same name (the part before ':') is replaced.
func mergeOptions(node []string, pod []v1.PodDNSConfigOption) []string {
	out := slices.Clone(node)
	for _, o := range pod {
		opt := o.Name
		if o.Value != nil {
			opt += ":" + *o.Value
		}
		i := slices.IndexFunc(out, func(s string) bool {
			name, _, _ := strings.Cut(s, ":")
			return name == o.Name
		})
		if i >= 0 {
			out[i] = opt
		} else {
			out = append(out, opt)
		}
	}
	return out
}

func limitSearches(searches []string) []string {
	if len(searches) > maxSearchDomains {
		searches = searches[:maxSearchDomains]
	}
	for len(searches) > 0 && len(strings.Join(searches, " ")) > maxSearchListChars {
		searches = searches[:len(searches)-1]
	}
	return searches
}
