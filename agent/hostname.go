package agent

import (
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// hostnameMaxLen is the longest kernel hostname (64 bytes with the NUL).
const hostnameMaxLen = 63

// podHostname is the hostname the pod's containers get, as the kubelet
// computes it: "" for hostNetwork pods (they keep the host's UTS namespace
// and hostname), else spec.hostnameOverride, else spec.hostname, else the pod
// name, cut to 63 characters without a trailing '-' or '.'.
//
// spec.subdomain changes nothing here. The kubelet would make the FQDN
// <hostname>.<subdomain>.<namespace>.svc.<cluster-domain> and write it into
// the pod's /etc/hosts beside the pod IP, and use it as the kernel hostname
// with setHostnameAsFQDN. miniagent has no cluster domain (no cluster DNS
// answers for such a name) and its pods have no IP to write beside it, so
// there is no FQDN: validation rejects setHostnameAsFQDN together with a
// subdomain, and without a subdomain the FQDN is the hostname itself, as
// with the kubelet.
func podHostname(pod *v1.Pod) (string, error) {
	if pod.Spec.HostNetwork {
		return "", nil
	}
	if o := pod.Spec.HostnameOverride; o != nil && *o != "" {
		return truncateHostname(pod.Name, *o)
	}
	if pod.Spec.Subdomain != "" && pod.Spec.SetHostnameAsFQDN != nil && *pod.Spec.SetHostnameAsFQDN {
		return "", fmt.Errorf("pod %q: setHostnameAsFQDN with subdomain %q needs a cluster domain, which miniagent does not have", pod.Name, pod.Spec.Subdomain)
	}
	name := pod.Name
	if pod.Spec.Hostname != "" {
		name = pod.Spec.Hostname
	}
	return truncateHostname(pod.Name, name)
}

// truncateHostname cuts hostname to hostnameMaxLen characters and drops the
// '-' and '.' the cut may leave at its end.
func truncateHostname(podName, hostname string) (string, error) {
	if len(hostname) <= hostnameMaxLen {
		return hostname, nil
	}
	cut := strings.TrimRight(hostname[:hostnameMaxLen], "-.")
	if cut == "" {
		return "", fmt.Errorf("hostname for pod %q was invalid: %q", podName, hostname)
	}
	return cut, nil
}
