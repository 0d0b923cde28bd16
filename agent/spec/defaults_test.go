package spec

import (
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/miniagent/miniagent/agent/manifest"
)

func basePod() *v1.Pod {
	pods, err := manifest.Decode([]byte(`apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  initContainers:
  - name: init
    image: busybox:1.28
  containers:
  - name: app
    image: busybox
    ports:
    - containerPort: 80
    resources:
      limits: {cpu: 200m, memory: 64Mi}
      requests: {cpu: 100m}
    livenessProbe:
      httpGet: {port: 80}
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 5
    env:
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
  volumes:
  - name: scratch
  - name: host
    hostPath: {path: /tmp}
`), "t")
	if err != nil {
		panic(err)
	}
	return pods[0]
}

func TestSetDefaults(t *testing.T) {
	p := basePod()
	SetDefaults(p)
	app, init := p.Spec.Containers[0], p.Spec.InitContainers[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"namespace", p.Namespace, "default"},
		{"restartPolicy", p.Spec.RestartPolicy, v1.RestartPolicyAlways},
		{"terminationGracePeriodSeconds", *p.Spec.TerminationGracePeriodSeconds, int64(30)},
		{"dnsPolicy", p.Spec.DNSPolicy, v1.DNSClusterFirst},
		{"schedulerName", p.Spec.SchedulerName, "default-scheduler"},
		{"securityContext", *p.Spec.SecurityContext, v1.PodSecurityContext{}},
		{"enableServiceLinks", *p.Spec.EnableServiceLinks, true},
		{"priority", *p.Spec.Priority, int32(0)},
		{"preemptionPolicy", *p.Spec.PreemptionPolicy, v1.PreemptLowerPriority},
		{"app terminationMessagePath", app.TerminationMessagePath, "/dev/termination-log"},
		{"app terminationMessagePolicy", app.TerminationMessagePolicy, v1.TerminationMessageReadFile},
		{"init terminationMessagePath", init.TerminationMessagePath, "/dev/termination-log"},
		{"init terminationMessagePolicy", init.TerminationMessagePolicy, v1.TerminationMessageReadFile},
		{"app pull policy (no tag)", app.ImagePullPolicy, v1.PullAlways},
		{"init pull policy (tag)", init.ImagePullPolicy, v1.PullIfNotPresent},
		{"image not rewritten", app.Image, "busybox"},
		{"port protocol", app.Ports[0].Protocol, v1.ProtocolTCP},
		{"no hostPort without hostNetwork", app.Ports[0].HostPort, int32(0)},
		{"cpu request kept", app.Resources.Requests.Cpu().String(), "100m"},
		{"memory request from limit", app.Resources.Requests.Memory().String(), "64Mi"},
		{"liveness timeout", app.LivenessProbe.TimeoutSeconds, int32(1)},
		{"liveness period", app.LivenessProbe.PeriodSeconds, int32(10)},
		{"liveness success", app.LivenessProbe.SuccessThreshold, int32(1)},
		{"liveness failure", app.LivenessProbe.FailureThreshold, int32(3)},
		{"httpGet path", app.LivenessProbe.HTTPGet.Path, "/"},
		{"httpGet scheme", app.LivenessProbe.HTTPGet.Scheme, v1.URISchemeHTTP},
		{"readiness period kept", app.ReadinessProbe.PeriodSeconds, int32(5)},
		{"fieldRef apiVersion", app.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"volume without source is emptyDir", p.Spec.Volumes[0].EmptyDir != nil, true},
		{"hostPath type", *p.Spec.Volumes[1].HostPath.Type, v1.HostPathUnset},
		{"init has no requests", len(init.Resources.Requests), 0},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestSetDefaultsIdempotentAndKeepsValues(t *testing.T) {
	p := basePod()
	p.Namespace = "prod"
	p.Spec.RestartPolicy = v1.RestartPolicyNever
	p.Spec.TerminationGracePeriodSeconds = ptr(int64(0))
	p.Spec.EnableServiceLinks = ptr(false)
	p.Spec.DNSPolicy = v1.DNSDefault
	SetDefaults(p)
	once := p.DeepCopy()
	SetDefaults(p)
	if !reflect.DeepEqual(once, p) {
		t.Errorf("second SetDefaults changed the pod")
	}
	if p.Namespace != "prod" || p.Spec.RestartPolicy != v1.RestartPolicyNever ||
		*p.Spec.TerminationGracePeriodSeconds != 0 || *p.Spec.EnableServiceLinks || p.Spec.DNSPolicy != v1.DNSDefault {
		t.Errorf("user values overwritten: %+v", p.Spec)
	}
}

func TestSetDefaultsHostNetworkPorts(t *testing.T) {
	p := &v1.Pod{Spec: v1.PodSpec{HostNetwork: true, Containers: []v1.Container{{
		Name: "c", Image: "x", Ports: []v1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 53, HostPort: 53, Protocol: v1.ProtocolUDP}},
	}}}}
	SetDefaults(p)
	ports := p.Spec.Containers[0].Ports
	if ports[0].HostPort != 8080 || ports[1].HostPort != 53 || ports[1].Protocol != v1.ProtocolUDP {
		t.Errorf("host network ports = %+v", ports)
	}
}

func TestSetDefaultsRequestsFromLimitsIsACopy(t *testing.T) {
	p := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{
		Name: "c", Image: "x",
		Resources: v1.ResourceRequirements{Limits: v1.ResourceList{
			v1.ResourceMemory: resource.MustParse("1Gi"), "example.com/gpu": resource.MustParse("1"),
		}},
	}}}}
	SetDefaults(p)
	req := p.Spec.Containers[0].Resources.Requests
	if req.Memory().String() != "1Gi" || req.Name("example.com/gpu", resource.DecimalSI).String() != "1" {
		t.Errorf("requests = %v", req)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	tests := map[string]v1.PullPolicy{
		"busybox":                    v1.PullAlways,
		"busybox:latest":             v1.PullAlways,
		"busybox:1.28":               v1.PullIfNotPresent,
		"ghcr.io/x/y":                v1.PullAlways,
		"localhost:5000/app:v2":      v1.PullIfNotPresent,
		"localhost:5000/app":         v1.PullAlways,
		"busybox@sha256:" + sha:      v1.PullIfNotPresent,
		"busybox:1.28@sha256:" + sha: v1.PullIfNotPresent,
		"":                           v1.PullIfNotPresent,
	}
	for image, want := range tests {
		if got := defaultPullPolicy(image); got != want {
			t.Errorf("defaultPullPolicy(%q) = %s, want %s", image, got, want)
		}
	}
}

const sha = "3fbc632167424a6d997e74f52b878d7cc478225cffac6bc977eedfe51c7f4e79"

func TestNormalizeImage(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "busybox", want: "docker.io/library/busybox:latest"},
		{in: "busybox:1.28", want: "docker.io/library/busybox:1.28"},
		{in: "library/busybox", want: "docker.io/library/busybox:latest"},
		{in: "docker.io/busybox:1.36", want: "docker.io/library/busybox:1.36"},
		{in: "ghcr.io/x/y", want: "ghcr.io/x/y:latest"},
		{in: "localhost:5000/app", want: "localhost:5000/app:latest"},
		{in: "busybox@sha256:" + sha, want: "docker.io/library/busybox@sha256:" + sha},
		{in: "busybox:1.28@sha256:" + sha, want: "docker.io/library/busybox:1.28@sha256:" + sha},
		{in: "Busybox", err: "must be lowercase"},
		{in: "", err: "invalid reference format"},
	}
	for _, tc := range tests {
		got, err := NormalizeImage(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("NormalizeImage(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeImage(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
