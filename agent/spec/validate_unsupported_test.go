package spec

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func csc(p *v1.Pod) *v1.SecurityContext    { return app(p).SecurityContext }
func psc(p *v1.Pod) *v1.PodSecurityContext { return p.Spec.SecurityContext }

// TestValidateMiniagentFields: the fields miniagent rejects because it
// cannot act on them, and the checks of the fields it newly acts on, each
// with its field path and message.
func TestValidateMiniagentFields(t *testing.T) {
	no := ptr(false)
	yes := ptr(true)
	tests := []struct {
		name   string
		mutate func(p *v1.Pod)
		path   string
		msg    string
	}{
		// Pod fields miniagent cannot act on.
		{"shareProcessNamespace", func(p *v1.Pod) { p.Spec.ShareProcessNamespace = yes }, "spec.shareProcessNamespace", "Forbidden: not supported by miniagent: every container has its own PID namespace"},
		{"hostUsers false", func(p *v1.Pod) { p.Spec.HostUsers = no }, "spec.hostUsers", "not supported by miniagent: no user namespaces"},
		{"imagePullSecrets", func(p *v1.Pod) { p.Spec.ImagePullSecrets = []v1.LocalObjectReference{{Name: "regcred"}} }, "spec.imagePullSecrets", "not supported by miniagent: there are no secrets"},
		{"hostAliases ip", func(p *v1.Pod) { p.Spec.HostAliases = []v1.HostAlias{{IP: "10.0.0", Hostnames: []string{"db"}}} }, "spec.hostAliases[0].ip", "must be a valid IP address"},
		{"hostAliases hostname", func(p *v1.Pod) { p.Spec.HostAliases = []v1.HostAlias{{IP: "10.0.0.1", Hostnames: []string{"DB_1"}}} }, "spec.hostAliases[0].hostnames[0]", "RFC 1123 subdomain"},
		{"dnsPolicy None without dnsConfig", func(p *v1.Pod) { p.Spec.DNSPolicy = v1.DNSNone }, "spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"},
		{"dnsPolicy None without nameservers", func(p *v1.Pod) { p.Spec.DNSPolicy = v1.DNSNone; p.Spec.DNSConfig = &v1.PodDNSConfig{} }, "spec.dnsConfig.nameservers", "at least one DNS nameserver"},
		{"dnsConfig nameserver", func(p *v1.Pod) { p.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"dns.example"}} }, "spec.dnsConfig.nameservers[0]", "must be a valid IP address"},
		{"dnsConfig four nameservers", func(p *v1.Pod) {
			p.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"}}
		}, "spec.dnsConfig.nameservers", "must not have more than 3 nameservers"},
		{"dnsConfig search", func(p *v1.Pod) { p.Spec.DNSConfig = &v1.PodDNSConfig{Searches: []string{"bad_domain"}} }, "spec.dnsConfig.searches[0]", "RFC 1123 subdomain"},
		{"dnsConfig option name", func(p *v1.Pod) {
			p.Spec.DNSConfig = &v1.PodDNSConfig{Options: []v1.PodDNSConfigOption{{Value: ptr("1")}}}
		}, "spec.dnsConfig.options[0]", "must not be empty"},
		{"readinessGates", func(p *v1.Pod) { p.Spec.ReadinessGates = []v1.PodReadinessGate{{ConditionType: "example.com/ready"}} }, "spec.readinessGates", "nothing could set the gates' conditions"},
		{"runtimeClassName", func(p *v1.Pod) { p.Spec.RuntimeClassName = ptr("gvisor") }, "spec.runtimeClassName", "not supported by miniagent"},
		{"overhead", func(p *v1.Pod) { p.Spec.Overhead = v1.ResourceList{v1.ResourceCPU: resource.MustParse("10m")} }, "spec.overhead", "not supported by miniagent"},
		{"schedulingGates", func(p *v1.Pod) { p.Spec.SchedulingGates = []v1.PodSchedulingGate{{Name: "wait"}} }, "spec.schedulingGates", "there is no scheduler to remove them"},
		{"resourceClaims", func(p *v1.Pod) { p.Spec.ResourceClaims = []v1.PodResourceClaim{{Name: "gpu"}} }, "spec.resourceClaims", "no dynamic resource allocation"},
		{"pod-level resources", func(p *v1.Pod) { p.Spec.Resources = &v1.ResourceRequirements{} }, "spec.resources", "set them per container"},
		{"priorityClassName", func(p *v1.Pod) { p.Spec.PriorityClassName = "high" }, "spec.priorityClassName", `Unsupported value: "high": supported values: "system-cluster-critical", "system-node-critical"`},
		{"setHostnameAsFQDN with subdomain", func(p *v1.Pod) { p.Spec.Subdomain = "svc"; p.Spec.SetHostnameAsFQDN = yes }, "spec.setHostnameAsFQDN", "there is no cluster domain"},
		{"hostnameOverride syntax", func(p *v1.Pod) { p.Spec.HostnameOverride = ptr("Not_Valid") }, "spec.hostnameOverride", "RFC 1123 subdomain"},
		{"hostnameOverride too long", func(p *v1.Pod) { p.Spec.HostnameOverride = ptr(strings.Repeat("a", 65)) }, "spec.hostnameOverride", "may not be more than 64"},
		{"hostnameOverride with hostNetwork", func(p *v1.Pod) {
			p.Spec.HostnameOverride = ptr("x")
			p.Spec.HostNetwork = true
			app(p).Ports = nil
		}, "spec.hostnameOverride", "may not be set when `hostNetwork` is true"},
		{"hostnameOverride with FQDN", func(p *v1.Pod) { p.Spec.HostnameOverride = ptr("x"); p.Spec.SetHostnameAsFQDN = yes }, "spec.hostnameOverride", "may not be set when `setHostnameAsFQDN` is true"},

		// Pod securityContext.
		{"pod seLinuxOptions", func(p *v1.Pod) { psc(p).SELinuxOptions = &v1.SELinuxOptions{Level: "s0:c1"} }, "spec.securityContext.seLinuxOptions", "not supported by miniagent: no SELinux labels are applied"},
		{"pod windowsOptions", func(p *v1.Pod) { psc(p).WindowsOptions = &v1.WindowsSecurityContextOptions{} }, "spec.securityContext.windowsOptions", "not supported by miniagent"},
		{"groups policy", func(p *v1.Pod) { psc(p).SupplementalGroupsPolicy = ptr(v1.SupplementalGroupsPolicy("Loose")) }, "spec.securityContext.supplementalGroupsPolicy", `Unsupported value: "Loose": supported values: "Merge", "Strict"`},
		{"fsGroupChangePolicy", func(p *v1.Pod) { psc(p).FSGroupChangePolicy = ptr(v1.PodFSGroupChangePolicy("Never")) }, "spec.securityContext.fsGroupChangePolicy", `supported values: "Always", "OnRootMismatch"`},
		{"seLinuxChangePolicy", func(p *v1.Pod) { psc(p).SELinuxChangePolicy = ptr(v1.PodSELinuxChangePolicy("x")) }, "spec.securityContext.seLinuxChangePolicy", `supported values: "MountOption", "Recursive"`},
		{"unsafe sysctl", func(p *v1.Pod) { psc(p).Sysctls[0].Name = "kernel.msgmax" }, "spec.securityContext.sysctls[0].name", `forbidden sysctl: "kernel.msgmax" not allowlisted`},
		{"sysctl syntax", func(p *v1.Pod) { psc(p).Sysctls[0].Name = "Net.IPv4" }, "spec.securityContext.sysctls[0].name", "must have at most 253 characters and match regex"},
		{"sysctl twice", func(p *v1.Pod) { psc(p).Sysctls[1].Name = "net/ipv4/ping_group_range" }, "spec.securityContext.sysctls[1].name", "Duplicate value"},
		{"net sysctl with hostNetwork", func(p *v1.Pod) { p.Spec.HostNetwork = true; app(p).Ports = nil }, "spec.securityContext.sysctls[0].name", `sysctl "net.ipv4.ping_group_range" not allowed with host net enabled`},
		{"ipc sysctl with hostIPC", func(p *v1.Pod) { p.Spec.HostIPC = true }, "spec.securityContext.sysctls[1].name", `sysctl "kernel/shm_rmid_forced" not allowed with host ipc enabled`},
		{"seccomp type", func(p *v1.Pod) { psc(p).SeccompProfile.Type = "Strict" }, "spec.securityContext.seccompProfile.type", `supported values: "Localhost", "RuntimeDefault", "Unconfined"`},
		{"seccomp localhostProfile needs Localhost", func(p *v1.Pod) { psc(p).SeccompProfile.LocalhostProfile = ptr("a.json") }, "spec.securityContext.seccompProfile.localhostProfile", "can only be set when seccomp type is Localhost"},
		{"pod AppArmor RuntimeDefault", func(p *v1.Pod) {
			psc(p).AppArmorProfile = &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeRuntimeDefault}
		}, "spec.securityContext.appArmorProfile.type", `Unsupported value: "RuntimeDefault": supported values: "Unconfined"`},

		// Container securityContext.
		{"container seLinuxOptions", func(p *v1.Pod) { csc(p).SELinuxOptions = &v1.SELinuxOptions{} }, "spec.containers[0].securityContext.seLinuxOptions", "not supported by miniagent"},
		{"container windowsOptions", func(p *v1.Pod) { csc(p).WindowsOptions = &v1.WindowsSecurityContextOptions{} }, "spec.containers[0].securityContext.windowsOptions", "not supported by miniagent: a Linux node"},
		{"container AppArmor Localhost", func(p *v1.Pod) {
			csc(p).AppArmorProfile = &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr("k8s-nginx")}
		}, "spec.containers[0].securityContext.appArmorProfile.type", `Unsupported value: "Localhost"`},
		{"procMount Unmasked", func(p *v1.Pod) { csc(p).ProcMount = ptr(v1.UnmaskedProcMount) }, "spec.containers[0].securityContext.procMount", `Unsupported value: "Unmasked": supported values: "Default"`},
		{"seccomp Localhost without a profile", func(p *v1.Pod) { csc(p).SeccompProfile.LocalhostProfile = nil }, "spec.containers[0].securityContext.seccompProfile.localhostProfile", "must be set when seccomp type is Localhost"},
		{"seccomp Localhost escapes", func(p *v1.Pod) { csc(p).SeccompProfile.LocalhostProfile = ptr("../x.json") }, "spec.containers[0].securityContext.seccompProfile.localhostProfile", "must not contain '..'"},
		{"privileged without escalation", func(p *v1.Pod) { csc(p).Privileged = yes }, "spec.containers[0].securityContext", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"},
		{"SYS_ADMIN without escalation", func(p *v1.Pod) { csc(p).Capabilities.Add = []v1.Capability{"SYS_ADMIN"} }, "spec.containers[0].securityContext", "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"},

		// Container fields miniagent cannot act on.
		{"lifecycle hooks", func(p *v1.Pod) {
			app(p).Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Sleep: &v1.SleepAction{Seconds: 1}}}
		}, "spec.containers[0].lifecycle", "Forbidden: not supported by miniagent: postStart and preStop hooks are not run"},
		{"terminationMessagePath", func(p *v1.Pod) { app(p).TerminationMessagePath = "/tmp/msg" }, "spec.containers[0].terminationMessagePath", "the termination message is not read"},
		{"terminationMessagePolicy", func(p *v1.Pod) { app(p).TerminationMessagePolicy = v1.TerminationMessageFallbackToLogsOnError }, "spec.containers[0].terminationMessagePolicy", "the termination message is not read"},
		{"tty without stdin", func(p *v1.Pod) { app(p).TTY = true }, "spec.containers[0].tty", "a terminal needs `stdin: true`"},
		{"resizePolicy", func(p *v1.Pod) {
			app(p).ResizePolicy = []v1.ContainerResizePolicy{{ResourceName: v1.ResourceCPU, RestartPolicy: v1.NotRequired}}
		}, "spec.containers[0].resizePolicy", "never resized in place"},
		{"restartPolicyRules", func(p *v1.Pod) { app(p).RestartPolicyRules = []v1.ContainerRestartRule{{Action: "Restart"}} }, "spec.containers[0].restartPolicyRules", "restarts follow restartPolicy only"},
		{"resource claims", func(p *v1.Pod) { app(p).Resources.Claims = []v1.ResourceClaim{{Name: "gpu"}} }, "spec.containers[0].resources.claims", "no dynamic resource allocation"},
		{"ephemeral-storage limit", func(p *v1.Pod) { app(p).Resources.Limits[v1.ResourceEphemeralStorage] = resource.MustParse("1Gi") }, "spec.containers[0].resources.limits[ephemeral-storage]", "the limit is not enforced; set a request only"},
		{"hostPort without hostNetwork", func(p *v1.Pod) { app(p).Ports[0].HostPort = 8080 }, "spec.containers[0].ports[0].hostPort", "nothing is forwarded from the host port"},
		{"init container lifecycle", func(p *v1.Pod) { p.Spec.InitContainers[1].Lifecycle = &v1.Lifecycle{} }, "spec.initContainers[1].lifecycle", "hooks are not run"},

		// Volumes and mounts.
		{"Bidirectional needs privileged", func(p *v1.Pod) { app(p).VolumeMounts[1].MountPropagation = ptr(v1.MountPropagationBidirectional) }, "spec.containers[0].volumeMounts[1].mountPropagation", "Bidirectional mount propagation is available only to privileged containers"},
		{"recursiveReadOnly Enabled without propagation", func(p *v1.Pod) {
			app(p).VolumeMounts[1].RecursiveReadOnly = ptr(v1.RecursiveReadOnlyEnabled)
			app(p).VolumeMounts[1].MountPropagation = ptr(v1.MountPropagationHostToContainer)
		}, "spec.containers[0].volumeMounts[1].recursiveReadOnly", "may only be specified when mountPropagation is None"},
		{"recursiveReadOnly needs readOnly", func(p *v1.Pod) { app(p).VolumeMounts[1].ReadOnly = false }, "spec.containers[0].volumeMounts[1].recursiveReadOnly", "may only be specified when readOnly is true"},
		{"recursiveReadOnly enum", func(p *v1.Pod) { app(p).VolumeMounts[1].RecursiveReadOnly = ptr(v1.RecursiveReadOnlyMode("Always")) }, "spec.containers[0].volumeMounts[1].recursiveReadOnly", `supported values: "Disabled", "Enabled", "IfPossible"`},
		{"bindMountOptions value", func(p *v1.Pod) { app(p).VolumeMounts[0].BindMountOptions = []string{"noatime"} }, "spec.containers[0].volumeMounts[0].bindMountOptions[0]", `Unsupported value: "noatime": supported values: "nodev", "noexec", "nosuid"`},
		{"bindMountOptions twice", func(p *v1.Pod) { app(p).VolumeMounts[0].BindMountOptions = []string{"nodev", "nodev"} }, "spec.containers[0].volumeMounts[0].bindMountOptions[1]", "Duplicate value"},
		{"emptyDir mode", func(p *v1.Pod) { p.Spec.Volumes[0].EmptyDir.Mode = ptr(int32(0o2777)) }, "spec.volumes[0].emptyDir.mode", "must be a number between 0 and 01777"},
		{"disk emptyDir sizeLimit", func(p *v1.Pod) { p.Spec.Volumes[0].EmptyDir.Medium = "" }, "spec.volumes[0].emptyDir.sizeLimit", "only enforced for medium: Memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod(t)
			tc.mutate(p)
			errs := Validate(p)
			for _, e := range errs {
				if e.Field == tc.path && strings.Contains(e.Error(), tc.msg) {
					return
				}
			}
			t.Errorf("want error at %s containing %q, got %v", tc.path, tc.msg, errs.ToAggregate())
		})
	}
}

// TestValidateAcceptsNoOps: fields miniagent accepts without acting on,
// because only a scheduler or the API server reads them, or because they
// change nothing a container can see on this node.
func TestValidateAcceptsNoOps(t *testing.T) {
	p := validPod(t)
	p.Spec.Subdomain = "web"
	p.Spec.SetHostnameAsFQDN = ptr(false)
	p.Spec.HostnameOverride = ptr("web.example")
	p.Spec.SchedulerName = "my-scheduler"
	p.Spec.PreemptionPolicy = ptr(v1.PreemptNever)
	p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: v1.DoNotSchedule}}
	p.Spec.AutomountServiceAccountToken = ptr(true)
	p.Spec.EnableServiceLinks = ptr(false)
	p.Spec.ServiceAccountName = "web"
	p.Spec.HostUsers = ptr(true)
	p.Spec.ShareProcessNamespace = ptr(false)
	p.Spec.DNSPolicy = v1.DNSNone
	p.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"10.0.0.2", "fd00::53"}, Searches: []string{"svc.example."}, Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr("2")}}}
	p.Spec.HostAliases = []v1.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"db", "db.local"}}}
	p.Spec.OS = &v1.PodOS{Name: v1.Linux}
	psc(p).SELinuxChangePolicy = ptr(v1.SELinuxChangePolicyRecursive)
	psc(p).SupplementalGroupsPolicy = ptr(v1.SupplementalGroupsPolicyStrict)
	csc(p).Capabilities.Add = []v1.Capability{"NET_ADMIN", "ALL"}
	p.Spec.InitContainers[0].SecurityContext = &v1.SecurityContext{Privileged: ptr(true), ProcMount: ptr(v1.DefaultProcMount)}
	p.Spec.HostPID = true
	app(p).VolumeMounts[1].MountPropagation = ptr(v1.MountPropagationHostToContainer)
	p.Spec.InitContainers[0].VolumeMounts = []v1.VolumeMount{{Name: "host", MountPath: "/host", MountPropagation: ptr(v1.MountPropagationBidirectional)}}
	// Attach writes to the stdin of these (agent/streaming.go).
	app(p).Stdin, app(p).StdinOnce, app(p).TTY = true, true, true
	p.Spec.InitContainers[0].Stdin = true
	if errs := Validate(p); len(errs) > 0 {
		t.Fatalf("rejected: %v", errs.ToAggregate())
	}
}
