package agent

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodHostname(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"     // 64 characters, cut to 62 a's
	dotted := strings.Repeat("x", 61) + "..zz" // cut at 63 leaves 61 x and ".."
	tests := []struct {
		name    string
		pod     string
		spec    v1.PodSpec
		want    string
		wantErr string
	}{
		{name: "pod name", pod: "web", want: "web"},
		{name: "pod name with dots", pod: "web.example", want: "web.example"},
		{name: "spec.hostname wins", pod: "web-0", spec: v1.PodSpec{Hostname: "db"}, want: "db"},
		{name: "subdomain leaves the hostname", pod: "web-0", spec: v1.PodSpec{Hostname: "db", Subdomain: "svc"}, want: "db"},
		{name: "hostNetwork keeps the host's", pod: "web", spec: v1.PodSpec{HostNetwork: true, Hostname: "db"}, want: ""},
		{name: "long pod name cut at 63", pod: strings.Repeat("p", 70), want: strings.Repeat("p", 63)},
		{name: "cut drops a trailing dash", pod: long, want: strings.Repeat("a", 62)},
		{name: "cut drops trailing dots", pod: "p", spec: v1.PodSpec{HostnameOverride: ptrTo(dotted)}, want: strings.Repeat("x", 61)},
		{name: "exactly 63 kept", pod: strings.Repeat("q", 63), want: strings.Repeat("q", 63)},
		{name: "override beats hostname", pod: "web", spec: v1.PodSpec{Hostname: "db", HostnameOverride: ptrTo("my.host")}, want: "my.host"},
		{name: "empty override ignored", pod: "web", spec: v1.PodSpec{HostnameOverride: ptrTo("")}, want: "web"},
		{name: "FQDN without subdomain is the hostname", pod: "web", spec: v1.PodSpec{SetHostnameAsFQDN: ptrTo(true)}, want: "web"},
		{name: "FQDN with subdomain", pod: "web", spec: v1.PodSpec{Subdomain: "svc", SetHostnameAsFQDN: ptrTo(true)}, wantErr: "needs a cluster domain"},
		{name: "FQDN false with subdomain", pod: "web", spec: v1.PodSpec{Subdomain: "svc", SetHostnameAsFQDN: ptrTo(false)}, want: "web"},
		{name: "nothing left after the cut", pod: "p", spec: v1.PodSpec{HostnameOverride: ptrTo(strings.Repeat("-", 64))}, wantErr: "was invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.pod, Namespace: "default"}, Spec: tc.spec}
			got, err := podHostname(pod)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("podHostname = %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("podHostname = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
