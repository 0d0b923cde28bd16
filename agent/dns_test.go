package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

const nodeResolv = `# generated
domain corp.example.
search lab.example corp.example.
nameserver 10.0.0.2
nameserver 10.0.0.3 ; second
options ndots:1 timeout:2
`

func TestPodResolvConf(t *testing.T) {
	// 70-character domains: 28 of them (with spaces 1987 characters) fit
	// in 2048, 29 do not.
	many := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("%s%02d.example", strings.Repeat("d", 60), i))
		}
		return out
	}
	tests := []struct {
		name   string
		policy v1.DNSPolicy
		host   bool
		config *v1.PodDNSConfig
		want   string
	}{
		{name: "ClusterFirst falls back to the node's", policy: v1.DNSClusterFirst,
			want: "search lab.example corp.example\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions ndots:1 timeout:2\n"},
		{name: "Default", policy: v1.DNSDefault, host: true,
			want: "search lab.example corp.example\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions ndots:1 timeout:2\n"},
		{name: "dnsConfig adds and overrides", policy: v1.DNSClusterFirstWithHostNet, config: &v1.PodDNSConfig{
			Nameservers: []string{"10.0.0.3", "1.1.1.1", "8.8.8.8"},
			Searches:    []string{"svc.example", "lab.example"},
			Options:     []v1.PodDNSConfigOption{{Name: "ndots", Value: ptrTo("5")}, {Name: "edns0"}},
		}, want: "search lab.example corp.example svc.example\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 1.1.1.1\noptions ndots:5 timeout:2 edns0\n"},
		{name: "None: dnsConfig only", policy: v1.DNSNone, config: &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}},
			want: "search a.example\nnameserver 1.1.1.1\n"},
		{name: "2048 characters of search domains at most", policy: v1.DNSNone, config: &v1.PodDNSConfig{Searches: many(31)},
			want: "search " + strings.Join(many(28), " ") + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: v1.PodSpec{DNSPolicy: tc.policy, HostNetwork: tc.host, DNSConfig: tc.config}}
			if got := string(podResolvConf(pod, []byte(nodeResolv))); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	if got := limitSearches(strings.Fields(strings.Repeat("a.b ", 40))); len(got) != 32 {
		t.Errorf("limitSearches kept %d of 40 short domains, want 32", len(got))
	}
	if got := parseResolvConf(nil); len(got.nameservers)+len(got.searches)+len(got.options) != 0 {
		t.Errorf("empty resolv.conf parsed to %+v", got)
	}
}

func TestPodHostsFile(t *testing.T) {
	aliases := []v1.HostAlias{{IP: "10.1.2.3", Hostnames: []string{"db", "db.local"}}, {IP: "::2", Hostnames: []string{"v6"}}}
	node := []byte("127.0.0.1 localhost\n10.0.0.9 node-1\n")
	pod := &v1.Pod{Spec: v1.PodSpec{HostAliases: aliases}}
	got := string(podHostsFile(pod, node))
	want := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
		"\n# Entries added by HostAliases.\n10.1.2.3\tdb\tdb.local\n::2\tv6\n"
	if got != want {
		t.Errorf("pod network:\n%s\nwant\n%s", got, want)
	}
	pod.Spec.HostNetwork, pod.Spec.HostAliases = true, nil
	if got := string(podHostsFile(pod, node)); got != "# Kubernetes-managed hosts file (host network).\n"+string(node) {
		t.Errorf("host network:\n%s", got)
	}
}

func TestPodFileMounts(t *testing.T) {
	dir := t.TempDir()
	nodeResolvConf, nodeHostsFile = filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "hosts")
	t.Cleanup(func() { nodeResolvConf, nodeHostsFile = "/etc/resolv.conf", "/etc/hosts" })
	if err := os.WriteFile(nodeResolvConf, []byte("nameserver 10.0.0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// No node hosts file: the pod's is made without it.
	a := &Agent{opts: Options{RootDir: t.TempDir()}}
	pod := &v1.Pod{Spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirst}}
	pod.UID = "u2"
	ro := true
	c := &v1.Container{Name: "c", SecurityContext: &v1.SecurityContext{ReadOnlyRootFilesystem: &ro},
		VolumeMounts: []v1.VolumeMount{{Name: "h", MountPath: "/etc/hosts/"}}}
	ms, err := a.podFileMounts(pod, c) // written on demand
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Destination != "/etc/resolv.conf" || ms[0].Options[1] != "ro" {
		t.Fatalf("mounts %+v: want only resolv.conf, read-only", ms)
	}
	data, err := os.ReadFile(ms[0].Source)
	if err != nil || string(data) != "nameserver 10.0.0.2\n" {
		t.Fatalf("resolv.conf %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(a.opts.RootDir, "pods", "u2", "etc-hosts")); err != nil {
		t.Fatalf("hosts file: %v", err)
	}
}
