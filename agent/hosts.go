package agent

import (
	"bytes"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// podHostsFile is the /etc/hosts the pod's containers get, as the kubelet
// writes it: for a hostNetwork pod the node's /etc/hosts, for others the
// localhost entries; then the pod's hostAliases. The kubelet also writes the
// pod IP beside the hostname (and the FQDN with a subdomain); miniagent pods
// have no IP, only a loopback interface, so that line is left out.
func podHostsFile(pod *v1.Pod, node []byte) []byte {
	var b bytes.Buffer
	if pod.Spec.HostNetwork {
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(node)
	} else {
		b.WriteString("# Kubernetes-managed hosts file.\n" +
			"127.0.0.1\tlocalhost\n" +
			"::1\tlocalhost ip6-localhost ip6-loopback\n" +
			"fe00::0\tip6-localnet\n" +
			"fe00::0\tip6-mcastprefix\n" +
			"fe00::1\tip6-allnodes\n" +
			"fe00::2\tip6-allrouters\n")
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, h := range pod.Spec.HostAliases {
			b.WriteString(h.IP + "\t" + strings.Join(h.Hostnames, "\t") + "\n")
		}
	}
	return b.Bytes()
}
