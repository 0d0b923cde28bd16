package envvar

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func field(path string) *v1.EnvVarSource {
	return &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
}

func resField(res, divisor, container string) *v1.EnvVarSource {
	s := &v1.ResourceFieldSelector{Resource: res, ContainerName: container}
	if divisor != "" {
		s.Divisor = resource.MustParse(divisor)
	}
	return &v1.EnvVarSource{ResourceFieldRef: s}
}

func rlist(kv ...string) v1.ResourceList {
	out := v1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

var yes = true

func testPod(env ...v1.EnvVar) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod", UID: "1234-abcd",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": "say \"hi\""}},
		Spec: v1.PodSpec{NodeName: "node1", ServiceAccountName: "default",
			Containers: []v1.Container{{Name: "main", Env: env,
				Resources: v1.ResourceRequirements{
					Requests: rlist("cpu", "250m", "memory", "64Mi"),
					Limits:   rlist("cpu", "1500m", "memory", "128Mi")}},
				{Name: "side", Resources: v1.ResourceRequirements{Limits: rlist("memory", "32Mi")}}},
			InitContainers: []v1.Container{{Name: "init", Resources: v1.ResourceRequirements{Requests: rlist("cpu", "100m")}}}},
	}
}

func TestContainerEnv(t *testing.T) {
	alloc := rlist("cpu", "2", "memory", "4Gi", "ephemeral-storage", "10Gi")
	tests := []struct {
		name string
		env  []v1.EnvVar
		want []string
	}{
		{"literals in order", []v1.EnvVar{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}, []string{"B=2", "A=1"}},
		{"empty value", []v1.EnvVar{{Name: "E"}}, []string{"E="}},
		{"refers to earlier", []v1.EnvVar{{Name: "A", Value: "x"}, {Name: "B", Value: "$(A)-y"}}, []string{"A=x", "B=x-y"}},
		{"later not yet defined", []v1.EnvVar{{Name: "B", Value: "$(A)"}, {Name: "A", Value: "x"}}, []string{"B=$(A)", "A=x"}},
		{"self reference", []v1.EnvVar{{Name: "P", Value: "/bin"}, {Name: "P", Value: "$(P):/usr/bin"}}, []string{"P=/bin:/usr/bin"}},
		{"escape", []v1.EnvVar{{Name: "A", Value: "x"}, {Name: "B", Value: "$$(A)"}}, []string{"A=x", "B=$(A)"}},
		{"valueFrom not expanded", []v1.EnvVar{{Name: "A", Value: "x"}, {Name: "L", ValueFrom: field("metadata.annotations['note']")}},
			[]string{"A=x", `L=say "hi"`}},
		{"downward api fields", []v1.EnvVar{
			{Name: "NAME", ValueFrom: field("metadata.name")},
			{Name: "NS", ValueFrom: field("metadata.namespace")},
			{Name: "UID", ValueFrom: field("metadata.uid")},
			{Name: "APP", ValueFrom: field("metadata.labels['app']")},
			{Name: "MISSING", ValueFrom: field("metadata.labels['nope']")},
			{Name: "NODE", ValueFrom: field("spec.nodeName")},
			{Name: "HOST", ValueFrom: field("spec.host")},
			{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
			{Name: "HOSTIP", ValueFrom: field("status.hostIP")},
			{Name: "HOSTIPS", ValueFrom: field("status.hostIPs")},
			{Name: "PODIP", ValueFrom: field("status.podIP")},
			{Name: "PODIPS", ValueFrom: field("status.podIPs")},
			{Name: "ALL", ValueFrom: field("metadata.labels")},
			{Name: "MSG", Value: "$(NAME).$(NS) on $(NODE)"},
		}, []string{"NAME=web", "NS=prod", "UID=1234-abcd", "APP=web", "MISSING=", "NODE=node1", "HOST=node1", "SA=default",
			"HOSTIP=10.0.0.1", "HOSTIPS=10.0.0.1", "PODIP=10.88.0.5", "PODIPS=10.88.0.5", "ALL=app=\"web\"\ntier=\"front\"",
			"MSG=web.prod on node1"}},
		{"resources", []v1.EnvVar{
			{Name: "LCPU", ValueFrom: resField("limits.cpu", "", "")},
			{Name: "LCPUM", ValueFrom: resField("limits.cpu", "1m", "")},
			{Name: "RCPU", ValueFrom: resField("requests.cpu", "", "")},
			{Name: "RCPUM", ValueFrom: resField("requests.cpu", "1m", "")},
			{Name: "LMEM", ValueFrom: resField("limits.memory", "", "")},
			{Name: "LMEMMI", ValueFrom: resField("limits.memory", "1Mi", "")},
			{Name: "RMEMMI", ValueFrom: resField("requests.memory", "1Mi", "")},
			{Name: "RMEMGI", ValueFrom: resField("requests.memory", "1Gi", "")},
			{Name: "LEPH", ValueFrom: resField("limits.ephemeral-storage", "1Gi", "")},
			{Name: "REPH", ValueFrom: resField("requests.ephemeral-storage", "", "")},
		}, []string{"LCPU=2", "LCPUM=1500", "RCPU=1", "RCPUM=250", "LMEM=134217728", "LMEMMI=128", "RMEMMI=64", "RMEMGI=1",
			"LEPH=10", "REPH=0"}},
		{"resources of other containers", []v1.EnvVar{
			{Name: "SIDE_LCPU", ValueFrom: resField("limits.cpu", "", "side")},         // unset: node allocatable
			{Name: "SIDE_RMEM", ValueFrom: resField("requests.memory", "1Mi", "side")}, // defaulted from its limit
			{Name: "SIDE_RCPU", ValueFrom: resField("requests.cpu", "", "side")},       // nothing set: 0
			{Name: "INIT_RCPU", ValueFrom: resField("requests.cpu", "1m", "init")},
			{Name: "INIT_LMEM", ValueFrom: resField("limits.memory", "1Gi", "init")},
		}, []string{"SIDE_LCPU=2", "SIDE_RMEM=32", "SIDE_RCPU=0", "INIT_RCPU=100", "INIT_LMEM=4"}},
		{"optional configmap and secret skipped", []v1.EnvVar{
			{Name: "A", Value: "1"},
			{Name: "CM", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{
				LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Key: "k", Optional: &yes}}},
			{Name: "S", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{
				LocalObjectReference: v1.LocalObjectReference{Name: "s"}, Key: "k", Optional: &yes}}},
			{Name: "B", Value: "[$(CM)]"},
		}, []string{"A=1", "B=[$(CM)]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(tc.env...)
			got, err := ContainerEnv(pod, &pod.Spec.Containers[0], "10.0.0.1", "10.88.0.5", WithNodeAllocatable(alloc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestContainerEnvErrors(t *testing.T) {
	tests := []struct {
		name    string
		env     []v1.EnvVar
		envFrom []v1.EnvFromSource
		want    string
	}{
		{"unsupported field", []v1.EnvVar{{Name: "X", ValueFrom: field("spec.restartPolicy")}}, nil, "field label not supported: spec.restartPolicy"},
		{"bad version", []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}}}}, nil, "unsupported pod version: v2"},
		{"unsupported resource", []v1.EnvVar{{Name: "X", ValueFrom: resField("limits.nvidia.com/gpu", "", "")}}, nil, "unsupported container resource"},
		{"bad resource kind", []v1.EnvVar{{Name: "X", ValueFrom: resField("usage.cpu", "", "")}}, nil, "unsupported container resource"},
		{"unknown container", []v1.EnvVar{{Name: "X", ValueFrom: resField("limits.cpu", "", "ghost")}}, nil, `container "ghost" not found`},
		{"required configmap key", []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{
			LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Key: "k"}}}}, nil, `env "X": configmap "cm" not found`},
		{"required secret key", []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{
			LocalObjectReference: v1.LocalObjectReference{Name: "s"}, Key: "k"}}}}, nil, `secret "s" not found`},
		{"required envFrom configmap", nil, []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}}}}, `configmap "cm" not found`},
		{"required envFrom secret", nil, []v1.EnvFromSource{{SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "s"}}}}, `secret "s" not found`},
		{"empty valueFrom", []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{}}}, nil, "unsupported valueFrom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod(tc.env...)
			pod.Spec.Containers[0].EnvFrom = tc.envFrom
			_, err := ContainerEnv(pod, &pod.Spec.Containers[0], "", "", WithNodeAllocatable(v1.ResourceList{}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Optional envFrom sources are fine.
	pod := testPod(v1.EnvVar{Name: "A", Value: "1"})
	pod.Spec.Containers[0].EnvFrom = []v1.EnvFromSource{
		{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Optional: &yes}},
		{SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "s"}, Optional: &yes}},
	}
	got, err := ContainerEnv(pod, &pod.Spec.Containers[0], "", "")
	if err != nil || !reflect.DeepEqual(got, []string{"A=1"}) {
		t.Errorf("optional envFrom: got %q, %v", got, err)
	}
}

func TestHostAllocatableDefault(t *testing.T) {
	alloc := HostAllocatable()
	cpu, mem := alloc[v1.ResourceCPU], alloc[v1.ResourceMemory]
	if cpu.Value() < 1 || mem.Value() < 1<<20 {
		t.Fatalf("HostAllocatable() = %v", alloc)
	}
	// Without WithNodeAllocatable, an unset limit is the host's.
	pod := testPod(v1.EnvVar{Name: "M", ValueFrom: resField("limits.memory", "", "init")},
		v1.EnvVar{Name: "C", ValueFrom: resField("limits.cpu", "1m", "side")})
	got, err := ContainerEnv(pod, &pod.Spec.Containers[0], "", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"M=" + strconv.FormatInt(mem.Value(), 10), "C=" + strconv.FormatInt(cpu.MilliValue(), 10)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestMemTotal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meminfo")
	if err := os.WriteFile(path, []byte("MemFree: 10 kB\nMemTotal:       2048 kB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, ok := memTotal(path); !ok || got != 2048*1024 {
		t.Errorf("memTotal = %d, %v", got, ok)
	}
	if _, ok := memTotal(filepath.Join(dir, "missing")); ok {
		t.Error("memTotal of a missing file succeeded")
	}
}
