package cluster

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// webAPIVolumes turns the web Deployment into one a plain `kubectl create
// deployment` would make: the API server adds its kube-api-access token
// volume (automountServiceAccountToken not false), and the pods mount the
// configMap web-config at /etc/config.
func webAPIVolumes(manifest string) string {
	m := strings.Replace(manifest, "      automountServiceAccountToken: false\n", "", 1)
	m = strings.Replace(m, "    spec:\n", "    spec:\n      volumes:\n      - {name: config, configMap: {name: web-config}}\n", 1)
	return m + "        volumeMounts:\n        - {name: config, mountPath: /etc/config}\n"
}

// createWebConfigLate waits until a web pod shows its container waiting
// ContainerCreating (web-config does not exist: the volume cannot be set up
// and is retried), then creates the configMap.
func createWebConfigLate(t *testing.T, r *podsRig) {
	t.Helper()
	waitFor(t, 60*time.Second, "a web pod ContainerCreating without its configMap", func() (bool, string) {
		for _, p := range r.pods("app=web") {
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && w.Reason == "ContainerCreating" && p.Status.Phase == v1.PodPending {
					return true, ""
				}
			}
		}
		return false, "no pod waiting"
	})
	r.k.run("create", "configmap", "web-config", "--from-literal=greeting=hello")
}

// checkAPIVolumes checks through kubectl exec what a web pod sees of its
// API volumes: the namespace and a token of its service account, bound to
// the pod, in the kube-api-access projected volume; the configMap's data;
// both read-only.
func checkAPIVolumes(t *testing.T, r *podsRig, p *v1.Pod) {
	t.Helper()
	const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
	exec := func(cmd ...string) string {
		return r.k.run(append([]string{"exec", p.Name, "--"}, cmd...)...)
	}
	if got := exec("cat", sa+"namespace"); got != "default" {
		t.Errorf("%s: namespace file %q, want default", p.Name, got)
	}
	if got := exec("cat", "/etc/config/greeting"); got != "hello" {
		t.Errorf("%s: /etc/config/greeting %q, want hello", p.Name, got)
	}
	if got := exec("sh", "-c", "head -c 27 "+sa+"ca.crt"); got != "-----BEGIN CERTIFICATE-----" {
		t.Errorf("%s: ca.crt starts %q", p.Name, got)
	}
	claims := jwtClaims(t, exec("cat", sa+"token"))
	if claims.Sub != "system:serviceaccount:default:default" || claims.K8s.Namespace != "default" ||
		claims.K8s.Pod.Name != p.Name || claims.K8s.Pod.UID != string(p.UID) || claims.K8s.Node.Name != p.Spec.NodeName {
		t.Errorf("%s: token claims %+v, want the default service account bound to the pod on its node", p.Name, claims)
	}
	if out, err := r.k.cp.Kubectl(r.k.ctx, "exec", p.Name, "--", "sh", "-c", "echo x > /etc/config/greeting"); err == nil {
		t.Errorf("%s: configMap volume writable: %s", p.Name, out)
	}
	if got := strings.TrimSpace(exec("sh", "-c", "readlink "+sa+"..data; stat -c %a "+sa+"..data/token")); !strings.HasPrefix(got, "..20") || !strings.HasSuffix(got, "\n644") {
		t.Errorf("%s: token volume layout %q, want ..data -> ..<timestamp>, token mode 644", p.Name, got)
	}
}

type tokenClaims struct {
	Sub string `json:"sub"`
	K8s struct {
		Namespace string `json:"namespace"`
		Pod       struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod"`
		Node struct {
			Name string `json:"name"`
		} `json:"node"`
	} `json:"kubernetes.io"`
}

func jwtClaims(t *testing.T, token string) tokenClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	var c tokenClaims
	if len(parts) != 3 {
		t.Errorf("token is no JWT: %q", token)
		return c
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		err = json.Unmarshal(data, &c)
	}
	if err != nil {
		t.Errorf("token claims: %v", err)
	}
	return c
}

// mountsOf lists the host's mounts below a pod's directory.
func mountsOf(uid string) []string { return mountsBelow("/pods/" + uid + "/") }

// mountsBelow lists the host's mount points whose path contains part.
func mountsBelow(part string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{fmt.Sprint(err)}
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.Contains(f[4], part) {
			out = append(out, f[4])
		}
	}
	return out
}
