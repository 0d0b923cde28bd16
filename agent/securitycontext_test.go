package agent

import (
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/miniagent/miniagent/runtime"
)

func TestApplySecurityContext(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	yes, no := ptrTo(true), ptrTo(false)
	strict := ptrTo(v1.SupplementalGroupsPolicyStrict)
	merge := ptrTo(v1.SupplementalGroupsPolicyMerge)
	tests := []struct {
		name      string
		pod       v1.PodSecurityContext
		hostPID   bool
		ctr       *v1.SecurityContext
		imageUser string
		want      runtime.ContainerSpec
		wantErr   string
	}{
		{name: "nothing set", want: runtime.ContainerSpec{}},
		{name: "pod user and group", pod: v1.PodSecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(3000)},
			want: runtime.ContainerSpec{RunAsUser: i64(1000), RunAsGroup: i64(3000)}},
		{name: "container wins", pod: v1.PodSecurityContext{RunAsUser: i64(1000), RunAsGroup: i64(3000)}, ctr: &v1.SecurityContext{RunAsUser: i64(2000)},
			want: runtime.ContainerSpec{RunAsUser: i64(2000), RunAsGroup: i64(3000)}},
		{name: "fsGroup before supplementalGroups", pod: v1.PodSecurityContext{FSGroup: i64(2000), SupplementalGroups: []int64{5, 6}},
			want: runtime.ContainerSpec{SupplementalGroups: []int64{2000, 5, 6}}},
		{name: "strict policy", pod: v1.PodSecurityContext{SupplementalGroups: []int64{5}, SupplementalGroupsPolicy: strict},
			want: runtime.ContainerSpec{SupplementalGroups: []int64{5}, StrictSupplementalGroups: true}},
		{name: "merge policy", pod: v1.PodSecurityContext{SupplementalGroupsPolicy: merge}, want: runtime.ContainerSpec{}},
		{name: "capabilities and hardening", ctr: &v1.SecurityContext{
			Capabilities:             &v1.Capabilities{Add: []v1.Capability{"NET_ADMIN"}, Drop: []v1.Capability{"ALL"}},
			AllowPrivilegeEscalation: no, ReadOnlyRootFilesystem: yes,
		}, want: runtime.ContainerSpec{AddCapabilities: []string{"NET_ADMIN"}, DropCapabilities: []string{"ALL"}, NoNewPrivileges: true, ReadOnlyRootfs: true}},
		{name: "allowPrivilegeEscalation true", ctr: &v1.SecurityContext{AllowPrivilegeEscalation: yes}, want: runtime.ContainerSpec{}},
		{name: "privileged", ctr: &v1.SecurityContext{Privileged: yes}, want: runtime.ContainerSpec{Privileged: true}},
		{name: "hostPID", hostPID: true, want: runtime.ContainerSpec{HostPID: true}},
		{name: "sysctls, slashes turned to dots", pod: v1.PodSecurityContext{Sysctls: []v1.Sysctl{{Name: "net.ipv4.ping_group_range", Value: "0 10"}, {Name: "net/ipv4/tcp_syncookies", Value: "1"}}},
			want: runtime.ContainerSpec{Sysctls: map[string]string{"net.ipv4.ping_group_range": "0 10", "net.ipv4.tcp_syncookies": "1"}}},
		{name: "pod seccomp RuntimeDefault", pod: v1.PodSecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}},
			want: runtime.ContainerSpec{Seccomp: runtime.SeccompRuntimeDefault}},
		{name: "container seccomp Unconfined wins", pod: v1.PodSecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}},
			ctr: &v1.SecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined}}, want: runtime.ContainerSpec{}},
		{name: "seccomp Localhost below the root dir", ctr: &v1.SecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: ptrTo("profiles/audit.json")}},
			want: runtime.ContainerSpec{Seccomp: "/var/lib/miniagent/seccomp/profiles/audit.json"}},
		{name: "seccomp Localhost cannot leave the dir", ctr: &v1.SecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: ptrTo("../../etc/x.json")}},
			want: runtime.ContainerSpec{Seccomp: "/var/lib/miniagent/seccomp/etc/x.json"}},
		{name: "seccomp Localhost without a path", ctr: &v1.SecurityContext{SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost}}, wantErr: "has no path"},

		// runAsNonRoot, as the kubelet's verifyRunAsNonRoot.
		{name: "non-root: image user unset", pod: v1.PodSecurityContext{RunAsNonRoot: yes},
			wantErr: `container has runAsNonRoot and image will run as root (pod: "web_default(uid-1)", container: main)`},
		{name: "non-root: image user 0", pod: v1.PodSecurityContext{RunAsNonRoot: yes}, imageUser: "0:0", wantErr: "image will run as root"},
		{name: "non-root: image user by name", pod: v1.PodSecurityContext{RunAsNonRoot: yes}, imageUser: "nginx",
			wantErr: "container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root"},
		{name: "non-root: image uid", pod: v1.PodSecurityContext{RunAsNonRoot: yes}, imageUser: "101:101", want: runtime.ContainerSpec{}},
		{name: "non-root: runAsUser 0", ctr: &v1.SecurityContext{RunAsNonRoot: yes, RunAsUser: i64(0)}, imageUser: "1000",
			wantErr: "container's runAsUser breaks non-root policy"},
		{name: "non-root: runAsUser beats a root image", pod: v1.PodSecurityContext{RunAsNonRoot: yes, RunAsUser: i64(1000)},
			want: runtime.ContainerSpec{RunAsUser: i64(1000)}},
		{name: "non-root: container false wins", pod: v1.PodSecurityContext{RunAsNonRoot: yes}, ctr: &v1.SecurityContext{RunAsNonRoot: no},
			want: runtime.ContainerSpec{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			psc := tc.pod
			pod := &v1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1"},
				Spec:       v1.PodSpec{SecurityContext: &psc, HostPID: tc.hostPID},
			}
			c := &v1.Container{Name: "main", SecurityContext: tc.ctr}
			var got runtime.ContainerSpec
			err := applySecurityContext(&got, pod, c, tc.imageUser, "/var/lib/miniagent/seccomp")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
