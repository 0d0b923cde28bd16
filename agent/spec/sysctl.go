package spec

import (
	"regexp"
	"strings"
)

// SafeSysctls are the sysctls the kubelet allows without
// --allowed-unsafe-sysctls (pkg/kubelet/sysctl/safe_sysctls.go); miniagent
// allows only these. All are namespaced: kernel.shm_rmid_forced in the IPC
// namespace, the others in the network namespace.
var SafeSysctls = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ping_group_range",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.tcp_wmem",
}

// SysctlName is a sysctl's name with dots between its parts: Kubernetes
// accepts "net/ipv4/ip_local_port_range" too, where a dot belongs to a part
// (such as an interface name) and is swapped with the slashes.
func SysctlName(name string) string {
	i := strings.IndexAny(name, "./")
	if i < 0 || name[i] == '.' {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
}

const sysctlMaxLength = 253

var sysctlNameRegexp = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

func isValidSysctlName(name string) bool {
	return len(name) <= sysctlMaxLength && sysctlNameRegexp.MatchString(name)
}
