package spec

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/miniagent/miniagent/agent/manifest"
)

const validManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web.example
  labels: {app: web, example.com/tier: front}
  annotations: {note: "anything at all"}
spec:
  hostname: web
  activeDeadlineSeconds: 600
  nodeSelector: {kubernetes.io/os: linux}
  priorityClassName: system-node-critical
  securityContext:
    runAsUser: 1000
    runAsGroup: 1000
    fsGroup: 2000
    supplementalGroups: [3000]
    supplementalGroupsPolicy: Merge
    fsGroupChangePolicy: OnRootMismatch
    seccompProfile: {type: RuntimeDefault}
    sysctls: [{name: net.ipv4.ping_group_range, value: "0 2000"}, {name: kernel/shm_rmid_forced, value: "1"}]
  tolerations:
  - {key: dedicated, operator: Equal, value: web, effect: NoSchedule}
  - {operator: Exists}
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: disk, operator: In, values: [ssd]}
          - {key: cores, operator: Gt, values: ["1"]}
          - {key: gpu, operator: DoesNotExist}
  initContainers:
  - name: setup
    image: busybox:1.28
    command: [sh, -c, "true"]
  - name: proxy
    image: busybox:1.28
    restartPolicy: Always
    readinessProbe:
      tcpSocket: {port: 15000}
  containers:
  - name: app
    image: nginx:1.25
    ports:
    - {name: http, containerPort: 80}
    - {containerPort: 53, protocol: UDP}
    resources:
      requests: {cpu: 100m, memory: 32Mi, example.com/gpu: "1"}
      limits: {cpu: 200m, memory: 64Mi, example.com/gpu: "1"}
    livenessProbe:
      httpGet: {path: /healthz, port: http}
    startupProbe:
      exec: {command: [cat, /tmp/ready]}
      failureThreshold: 30
    env:
    - {name: MODE, value: prod}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: APP_LABEL
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
    - name: MEM
      valueFrom: {resourceFieldRef: {resource: limits.memory}}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
      runAsNonRoot: true
      procMount: Default
      appArmorProfile: {type: Unconfined}
      seccompProfile: {type: Localhost, localhostProfile: profiles/app.json}
    volumeMounts:
    - {name: cache, mountPath: /cache, bindMountOptions: [noexec, nosuid]}
    - {name: host, mountPath: /host, readOnly: true, recursiveReadOnly: IfPossible, mountPropagation: None}
  volumes:
  - name: cache
    emptyDir: {medium: Memory, sizeLimit: 1Gi, mode: 0750}
  - name: host
    hostPath: {path: /var/log, type: Directory}
`

func validPod(t *testing.T) *v1.Pod {
	t.Helper()
	pods, err := manifest.Decode([]byte(validManifest), "valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	SetDefaults(pods[0])
	return pods[0]
}

func TestValidateValidPod(t *testing.T) {
	if errs := Validate(validPod(t)); len(errs) > 0 {
		t.Fatalf("valid pod rejected: %v", errs.ToAggregate())
	}
}

func app(p *v1.Pod) *v1.Container { return &p.Spec.Containers[0] }

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *v1.Pod)
		path   string // field path of the expected error
		msg    string // substring of the expected error
	}{
		{"name required", func(p *v1.Pod) { p.Name = "" }, "metadata.name", "name or generateName is required"},
		{"name subdomain", func(p *v1.Pod) { p.Name = "Web_1" }, "metadata.name", "RFC 1123 subdomain"},
		{"namespace label", func(p *v1.Pod) { p.Namespace = "Prod" }, "metadata.namespace", "RFC 1123 label"},
		{"label key", func(p *v1.Pod) { p.Labels["bad key"] = "x" }, "metadata.labels", "name part must consist of"},
		{"label value", func(p *v1.Pod) { p.Labels["app"] = "no spaces" }, "metadata.labels", "a valid label must be"},
		{"annotation key", func(p *v1.Pod) { p.Annotations["/x"] = "y" }, "metadata.annotations", "prefix part must be non-empty"},
		{"no containers", func(p *v1.Pod) { p.Spec.Containers = nil }, "spec.containers", "Required value"},
		{"container name label", func(p *v1.Pod) { app(p).Name = "App" }, "spec.containers[0].name", "RFC 1123 label"},
		{"container name required", func(p *v1.Pod) { app(p).Name = "" }, "spec.containers[0].name", "Required value"},
		{"container name unique across init", func(p *v1.Pod) { app(p).Name = "setup" }, "spec.containers[0].name", `Duplicate value: "setup"`},
		{"image required", func(p *v1.Pod) { app(p).Image = "" }, "spec.containers[0].image", "Required value"},
		{"pull policy enum", func(p *v1.Pod) { app(p).ImagePullPolicy = "Sometimes" }, "spec.containers[0].imagePullPolicy", `Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`},
		{"restart policy enum", func(p *v1.Pod) { p.Spec.RestartPolicy = "Maybe" }, "spec.restartPolicy", `supported values: "Always", "OnFailure", "Never"`},
		{"init restart policy", func(p *v1.Pod) { p.Spec.InitContainers[0].RestartPolicy = ptr(v1.ContainerRestartPolicy("Never")) }, "spec.initContainers[0].restartPolicy", `Unsupported value: "Never": supported values: "Always"`},
		{"app container restart policy", func(p *v1.Pod) { app(p).RestartPolicy = ptr(v1.ContainerRestartPolicyAlways) }, "spec.containers[0].restartPolicy", "may not be set for non-init containers"},
		{"probe on plain init container", func(p *v1.Pod) { p.Spec.InitContainers[0].LivenessProbe = app(p).LivenessProbe }, "spec.initContainers[0].livenessProbe", "without restartPolicy=Always"},
		{"port zero", func(p *v1.Pod) { app(p).Ports[0].ContainerPort = 0 }, "spec.containers[0].ports[0].containerPort", "Required value"},
		{"port range", func(p *v1.Pod) { app(p).Ports[0].ContainerPort = 70000 }, "spec.containers[0].ports[0].containerPort", "must be between 1 and 65535, inclusive"},
		{"host port range", func(p *v1.Pod) { app(p).Ports[0].HostPort = -1 }, "spec.containers[0].ports[0].hostPort", "must be between 1 and 65535"},
		{"protocol enum", func(p *v1.Pod) { app(p).Ports[0].Protocol = "ICMP" }, "spec.containers[0].ports[0].protocol", `supported values: "SCTP", "TCP", "UDP"`},
		{"port name syntax", func(p *v1.Pod) { app(p).Ports[1].Name = "has_underscore" }, "spec.containers[0].ports[1].name", "must contain only alpha-numeric characters"},
		{"port name unique", func(p *v1.Pod) { app(p).Ports[1].Name = "http" }, "spec.containers[0].ports[1].name", `Duplicate value: "http"`},
		{"host network ports", func(p *v1.Pod) { p.Spec.HostNetwork = true; app(p).Ports[0].HostPort = 8080 }, "spec.containers[0].ports[0].hostPort", "must match `containerPort` when `hostNetwork` is true"},
		{"request above limit", func(p *v1.Pod) { app(p).Resources.Requests[v1.ResourceCPU] = resource.MustParse("300m") }, "spec.containers[0].resources.requests[cpu]", "must be less than or equal to cpu limit of 200m"},
		{"negative quantity", func(p *v1.Pod) { app(p).Resources.Limits[v1.ResourceMemory] = resource.MustParse("-1") }, "spec.containers[0].resources.limits[memory]", "must be greater than or equal to 0"},
		{"unknown resource", func(p *v1.Pod) { app(p).Resources.Limits["gpu"] = resource.MustParse("1") }, "spec.containers[0].resources.limits[gpu]", "must be a standard resource for containers"},
		{"extended fractional", func(p *v1.Pod) {
			app(p).Resources.Limits["example.com/gpu"] = resource.MustParse("500m")
			app(p).Resources.Requests["example.com/gpu"] = resource.MustParse("500m")
		}, "spec.containers[0].resources.limits[example.com/gpu]", "must be an integer"},
		{"extended request differs", func(p *v1.Pod) { app(p).Resources.Requests["example.com/gpu"] = resource.MustParse("0") }, "spec.containers[0].resources.requests[example.com/gpu]", "must be equal to example.com/gpu limit of 1"},
		{"hugepages need cpu or memory", func(p *v1.Pod) {
			app(p).Resources = v1.ResourceRequirements{Limits: v1.ResourceList{"hugepages-2Mi": resource.MustParse("2Mi")}, Requests: v1.ResourceList{"hugepages-2Mi": resource.MustParse("2Mi")}}
		}, "spec.containers[0].resources", "HugePages require cpu or memory"},
		{"no handler", func(p *v1.Pod) { app(p).LivenessProbe.HTTPGet = nil }, "spec.containers[0].livenessProbe", "must specify a handler type"},
		{"two handlers", func(p *v1.Pod) { app(p).LivenessProbe.Exec = &v1.ExecAction{Command: []string{"true"}} }, "spec.containers[0].livenessProbe.httpGet", "may not specify more than 1 handler type"},
		{"named port missing", func(p *v1.Pod) { app(p).LivenessProbe.HTTPGet.Port = intstr.FromString("metrics") }, "spec.containers[0].livenessProbe.httpGet.port", "must be the name of one of the container's ports"},
		{"probe port number", func(p *v1.Pod) { p.Spec.InitContainers[1].ReadinessProbe.TCPSocket.Port = intstr.FromInt32(0) }, "spec.initContainers[1].readinessProbe.tcpSocket.port", "must be between 1 and 65535"},
		{"liveness success threshold", func(p *v1.Pod) { app(p).LivenessProbe.SuccessThreshold = 2 }, "spec.containers[0].livenessProbe.successThreshold", "must be 1"},
		{"startup success threshold", func(p *v1.Pod) { app(p).StartupProbe.SuccessThreshold = 3 }, "spec.containers[0].startupProbe.successThreshold", "must be 1"},
		{"period positive", func(p *v1.Pod) { app(p).LivenessProbe.PeriodSeconds = -1 }, "spec.containers[0].livenessProbe.periodSeconds", "must be greater than zero"},
		{"failure threshold positive", func(p *v1.Pod) { app(p).StartupProbe.FailureThreshold = -2 }, "spec.containers[0].startupProbe.failureThreshold", "must be greater than zero"},
		{"initial delay non-negative", func(p *v1.Pod) { app(p).LivenessProbe.InitialDelaySeconds = -5 }, "spec.containers[0].livenessProbe.initialDelaySeconds", "must be greater than or equal to 0"},
		{"probe grace period", func(p *v1.Pod) { app(p).LivenessProbe.TerminationGracePeriodSeconds = ptr(int64(0)) }, "spec.containers[0].livenessProbe.terminationGracePeriodSeconds", "must be greater than 0"},
		{"http scheme", func(p *v1.Pod) { app(p).LivenessProbe.HTTPGet.Scheme = "FTP" }, "spec.containers[0].livenessProbe.httpGet.scheme", `supported values: "HTTP", "HTTPS"`},
		{"volume name label", func(p *v1.Pod) { p.Spec.Volumes[0].Name = "Cache" }, "spec.volumes[0].name", "RFC 1123 label"},
		{"volume name unique", func(p *v1.Pod) { p.Spec.Volumes[1].Name = "cache" }, "spec.volumes[1].name", `Duplicate value: "cache"`},
		{"volume two sources", func(p *v1.Pod) { p.Spec.Volumes[0].HostPath = &v1.HostPathVolumeSource{Path: "/x"} }, "spec.volumes[0].emptyDir", "may not specify more than 1 volume type"},
		{"volume unsupported source", func(p *v1.Pod) {
			p.Spec.Volumes[0].VolumeSource = v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{}}
		}, "spec.volumes[0]", `Unsupported value: "configMap": supported values: "emptyDir", "hostPath"`},
		{"host path relative", func(p *v1.Pod) { p.Spec.Volumes[1].HostPath.Path = "var/log" }, "spec.volumes[1].hostPath.path", "must be an absolute path"},
		{"host path type", func(p *v1.Pod) { p.Spec.Volumes[1].HostPath.Type = ptr(v1.HostPathType("Dir")) }, "spec.volumes[1].hostPath.type", `Unsupported value: "Dir"`},
		{"mount unknown volume", func(p *v1.Pod) { app(p).VolumeMounts[0].Name = "data" }, "spec.containers[0].volumeMounts[0].name", `Not found: "data"`},
		{"mount path absolute", func(p *v1.Pod) { app(p).VolumeMounts[0].MountPath = "cache" }, "spec.containers[0].volumeMounts[0].mountPath", "must be an absolute path"},
		{"mount path unique", func(p *v1.Pod) { app(p).VolumeMounts[1].MountPath = "/cache/" }, "spec.containers[0].volumeMounts[1].mountPath", "must be unique"},
		{"env name", func(p *v1.Pod) { app(p).Env[0].Name = "1MODE" }, "spec.containers[0].env[0].name", "a valid environment variable name must consist of"},
		{"env secret unsupported", func(p *v1.Pod) {
			app(p).Env[1].ValueFrom = &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{Key: "k"}}
		}, "spec.containers[0].env[1].valueFrom", `Unsupported value: "secretKeyRef": supported values: "fieldRef", "resourceFieldRef"`},
		{"env value and valueFrom", func(p *v1.Pod) { app(p).Env[1].Value = "x" }, "spec.containers[0].env[1].valueFrom", "may not be specified when `value` is not empty"},
		{"env field path", func(p *v1.Pod) { app(p).Env[1].ValueFrom.FieldRef.FieldPath = "spec.hostname" }, "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath", `Unsupported value: "spec.hostname"`},
		{"env resource", func(p *v1.Pod) { app(p).Env[3].ValueFrom.ResourceFieldRef.Resource = "limits.gpu" }, "spec.containers[0].env[3].valueFrom.resourceFieldRef.resource", `Unsupported value: "limits.gpu"`},
		{"active deadline", func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) }, "spec.activeDeadlineSeconds", "must be between 1 and 2147483647, inclusive"},
		{"grace period", func(p *v1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-1)) }, "spec.terminationGracePeriodSeconds", "must be greater than or equal to 0"},
		{"run as user", func(p *v1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr(int64(-1)) }, "spec.securityContext.runAsUser", "must be between 0 and 2147483647"},
		{"run as group", func(p *v1.Pod) { p.Spec.SecurityContext.RunAsGroup = ptr(int64(-1)) }, "spec.securityContext.runAsGroup", "must be between 0 and 2147483647"},
		{"container run as user", func(p *v1.Pod) { app(p).SecurityContext = &v1.SecurityContext{RunAsUser: ptr(int64(-7))} }, "spec.containers[0].securityContext.runAsUser", "must be between 0"},
		{"node selector key", func(p *v1.Pod) { p.Spec.NodeSelector["-bad"] = "x" }, "spec.nodeSelector", "name part must consist of"},
		{"node selector value", func(p *v1.Pod) { p.Spec.NodeSelector["disk"] = "s s d" }, "spec.nodeSelector", "a valid label must be"},
		{"toleration operator", func(p *v1.Pod) { p.Spec.Tolerations[0].Operator = "Like" }, "spec.tolerations[0].operator", `supported values: "Equal", "Exists"`},
		{"toleration exists with value", func(p *v1.Pod) { p.Spec.Tolerations[1].Value = "x" }, "spec.tolerations[1].operator", "value must be empty when `operator` is 'Exists'"},
		{"toleration empty key needs exists", func(p *v1.Pod) { p.Spec.Tolerations[0].Key = "" }, "spec.tolerations[0].operator", "operator must be Exists when `key` is empty"},
		{"toleration effect", func(p *v1.Pod) { p.Spec.Tolerations[0].Effect = "NoRun" }, "spec.tolerations[0].effect", `supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`},
		{"toleration seconds need NoExecute", func(p *v1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(5)) }, "spec.tolerations[0].effect", "effect must be 'NoExecute' when `tolerationSeconds` is set"},
		{"affinity In needs values", func(p *v1.Pod) { nodeReq(p, 0).Values = nil }, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", "must be specified when `operator` is 'In' or 'NotIn'"},
		{"affinity Exists no values", func(p *v1.Pod) { nodeReq(p, 2).Values = []string{"x"} }, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[2].values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"},
		{"affinity Gt one value", func(p *v1.Pod) { nodeReq(p, 1).Values = []string{"1", "2"} }, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values", "must be specified single value"},
		{"affinity Gt integer", func(p *v1.Pod) { nodeReq(p, 1).Values = []string{"many"} }, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values[0]", "must be an integer"},
		{"affinity operator", func(p *v1.Pod) { nodeReq(p, 0).Operator = "Near" }, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator", `Unsupported value: "Near"`},
		{"dns policy", func(p *v1.Pod) { p.Spec.DNSPolicy = "Google" }, "spec.dnsPolicy", `Unsupported value: "Google"`},
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

func nodeReq(p *v1.Pod, i int) *v1.NodeSelectorRequirement {
	return &p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[i]
}

func TestValidateCollectsAllErrors(t *testing.T) {
	p := validPod(t)
	p.Name = ""
	app(p).Image = ""
	p.Spec.RestartPolicy = "Sometimes"
	if errs := Validate(p); len(errs) != 3 {
		t.Errorf("want 3 errors, got %d: %v", len(errs), errs.ToAggregate())
	}
}

func TestValidateUpdate(t *testing.T) {
	old := validPod(t)
	old.UID = "1111"
	changed := validPod(t)
	changed.UID = "1111"
	app(changed).Image = "nginx:1.26"
	changed.Spec.RestartPolicy = v1.RestartPolicyNever
	if errs := ValidateUpdate(changed, old); len(errs) > 0 {
		t.Errorf("spec change rejected: %v", errs.ToAggregate())
	}
	changed.UID = "2222"
	errs := ValidateUpdate(changed, old)
	if len(errs) != 1 || errs[0].Field != "metadata.uid" || !strings.Contains(errs[0].Error(), "field is immutable") {
		t.Errorf("uid change: got %v", errs.ToAggregate())
	}
	changed.UID = ""
	if errs := ValidateUpdate(changed, old); len(errs) > 0 {
		t.Errorf("unset uid rejected: %v", errs.ToAggregate())
	}
	changed.Name = "other"
	if errs := ValidateUpdate(changed, old); len(errs) != 1 || errs[0].Field != "metadata.name" {
		t.Errorf("name change: got %v", errs.ToAggregate())
	}
}
