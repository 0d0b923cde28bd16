package spec

import (
	"path"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	pullPolicies  = []string{string(v1.PullAlways), string(v1.PullIfNotPresent), string(v1.PullNever)}
	protocols     = []string{string(v1.ProtocolSCTP), string(v1.ProtocolTCP), string(v1.ProtocolUDP)}
	msgPolicies   = []string{string(v1.TerminationMessageFallbackToLogsOnError), string(v1.TerminationMessageReadFile)}
	uriSchemes    = []string{string(v1.URISchemeHTTP), string(v1.URISchemeHTTPS)}
	envFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}
	envResources  = []string{"limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage", "requests.memory"}
)

// validateContainer checks one init or app container; names collects the
// container names seen so far (unique across init and app containers).
func validateContainer(c *v1.Container, isInit bool, spec *v1.PodSpec, volumes sets.Set[string], names sets.Set[string], fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case c.Name == "":
		allErrs = append(allErrs, field.Required(fld.Child("name"), ""))
	case names.Has(c.Name):
		allErrs = append(allErrs, field.Duplicate(fld.Child("name"), c.Name))
	default:
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			allErrs = append(allErrs, field.Invalid(fld.Child("name"), c.Name, msg))
		}
	}
	names.Insert(c.Name)

	if c.Image == "" {
		allErrs = append(allErrs, field.Required(fld.Child("image"), ""))
	} else if strings.TrimSpace(c.Image) != c.Image {
		allErrs = append(allErrs, field.Invalid(fld.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}
	allErrs = append(allErrs, validateEnum(string(c.ImagePullPolicy), pullPolicies, fld.Child("imagePullPolicy"))...)
	allErrs = append(allErrs, validateEnum(string(c.TerminationMessagePolicy), msgPolicies, fld.Child("terminationMessagePolicy"))...)
	if c.TerminationMessagePath == "" {
		allErrs = append(allErrs, field.Required(fld.Child("terminationMessagePath"), ""))
	}

	sidecar := false
	if c.RestartPolicy != nil {
		switch {
		case !isInit:
			allErrs = append(allErrs, field.Forbidden(fld.Child("restartPolicy"), "may not be set for non-init containers"))
		case *c.RestartPolicy == v1.ContainerRestartPolicyAlways:
			sidecar = true
		default:
			allErrs = append(allErrs, field.NotSupported(fld.Child("restartPolicy"), *c.RestartPolicy, []string{string(v1.ContainerRestartPolicyAlways)}))
		}
	}
	if isInit && !sidecar {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"lifecycle", c.Lifecycle != nil}, {"livenessProbe", c.LivenessProbe != nil},
			{"readinessProbe", c.ReadinessProbe != nil}, {"startupProbe", c.StartupProbe != nil},
		} {
			if f.set {
				allErrs = append(allErrs, field.Forbidden(fld.Child(f.name), "may not be set for init containers without restartPolicy=Always"))
			}
		}
	}

	ports := sets.New[string]()
	for i, p := range c.Ports {
		allErrs = append(allErrs, validatePort(p, spec.HostNetwork, ports, fld.Child("ports").Index(i))...)
	}
	allErrs = append(allErrs, validateProbe(c.LivenessProbe, true, ports, fld.Child("livenessProbe"))...)
	allErrs = append(allErrs, validateProbe(c.ReadinessProbe, false, ports, fld.Child("readinessProbe"))...)
	allErrs = append(allErrs, validateProbe(c.StartupProbe, true, ports, fld.Child("startupProbe"))...)
	if c.ReadinessProbe != nil && c.ReadinessProbe.TerminationGracePeriodSeconds != nil {
		allErrs = append(allErrs, field.Invalid(fld.Child("readinessProbe", "terminationGracePeriodSeconds"), *c.ReadinessProbe.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
	}
	if c.Lifecycle != nil {
		if h := c.Lifecycle.PostStart; h != nil {
			allErrs = append(allErrs, validateLifecycleHandler(h, ports, fld.Child("lifecycle", "postStart"))...)
		}
		if h := c.Lifecycle.PreStop; h != nil {
			allErrs = append(allErrs, validateLifecycleHandler(h, ports, fld.Child("lifecycle", "preStop"))...)
		}
	}
	allErrs = append(allErrs, validateResources(&c.Resources, fld.Child("resources"))...)
	allErrs = append(allErrs, validateEnv(c.Env, fld.Child("env"))...)
	for i := range c.EnvFrom {
		allErrs = append(allErrs, field.Forbidden(fld.Child("envFrom").Index(i), "configMapRef and secretRef are not supported by miniagent"))
	}
	allErrs = append(allErrs, validateVolumeMounts(c.VolumeMounts, volumes, fld.Child("volumeMounts"))...)
	if len(c.VolumeDevices) > 0 {
		allErrs = append(allErrs, field.Forbidden(fld.Child("volumeDevices"), "not supported by miniagent"))
	}
	allErrs = append(allErrs, validateSecurityContext(c.SecurityContext, fld.Child("securityContext"))...)
	return append(allErrs, validateContainerFields(c, spec.HostNetwork, fld)...)
}

func validatePort(p v1.ContainerPort, hostNetwork bool, names sets.Set[string], fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if p.Name != "" {
		for _, msg := range validation.IsValidPortName(p.Name) {
			allErrs = append(allErrs, field.Invalid(fld.Child("name"), p.Name, msg))
		}
		if names.Has(p.Name) {
			allErrs = append(allErrs, field.Duplicate(fld.Child("name"), p.Name))
		}
		names.Insert(p.Name)
	}
	if p.ContainerPort == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("containerPort"), ""))
	} else {
		for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
			allErrs = append(allErrs, field.Invalid(fld.Child("containerPort"), p.ContainerPort, msg))
		}
	}
	if p.HostPort != 0 {
		for _, msg := range validation.IsValidPortNum(int(p.HostPort)) {
			allErrs = append(allErrs, field.Invalid(fld.Child("hostPort"), p.HostPort, msg))
		}
	}
	if hostNetwork && p.HostPort != p.ContainerPort {
		allErrs = append(allErrs, field.Invalid(fld.Child("hostPort"), p.HostPort, "must match `containerPort` when `hostNetwork` is true"))
	}
	return append(allErrs, validateEnum(string(p.Protocol), protocols, fld.Child("protocol"))...)
}

func validateProbe(p *v1.Probe, mustSucceedOnce bool, ports sets.Set[string], fld *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	allErrs := validateHandlers(&p.ProbeHandler, ports, fld)
	if p.InitialDelaySeconds < 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("initialDelaySeconds"), p.InitialDelaySeconds, isNegativeErrorMsg))
	}
	for _, f := range []struct {
		name  string
		value int32
	}{
		{"timeoutSeconds", p.TimeoutSeconds}, {"periodSeconds", p.PeriodSeconds},
		{"successThreshold", p.SuccessThreshold}, {"failureThreshold", p.FailureThreshold},
	} {
		if f.value < 1 {
			allErrs = append(allErrs, field.Invalid(fld.Child(f.name), f.value, isNotPositiveErrorMsg))
		}
	}
	if mustSucceedOnce && p.SuccessThreshold != 1 {
		allErrs = append(allErrs, field.Invalid(fld.Child("successThreshold"), p.SuccessThreshold, "must be 1"))
	}
	if g := p.TerminationGracePeriodSeconds; g != nil && *g <= 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
	}
	return allErrs
}

// validateHandlers checks a probe handler: exactly one of its types.
func validateHandlers(h *v1.ProbeHandler, ports sets.Set[string], fld *field.Path) field.ErrorList {
	allErrs := exactlyOneHandler(h, fld)
	allErrs = append(allErrs, validateCommonHandlers(h.Exec, h.HTTPGet, h.TCPSocket, ports, fld)...)
	if h.GRPC != nil {
		for _, msg := range validation.IsValidPortNum(int(h.GRPC.Port)) {
			allErrs = append(allErrs, field.Invalid(fld.Child("grpc", "port"), h.GRPC.Port, msg))
		}
	}
	return allErrs
}

// validateCommonHandlers checks the handler types probes and lifecycle
// hooks share.
func validateCommonHandlers(exec *v1.ExecAction, httpGet *v1.HTTPGetAction, tcp *v1.TCPSocketAction, ports sets.Set[string], fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if exec != nil && len(exec.Command) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("exec", "command"), ""))
	}
	if httpGet != nil {
		allErrs = append(allErrs, validateHTTPGet(httpGet, ports, fld.Child("httpGet"))...)
	}
	if tcp != nil {
		allErrs = append(allErrs, validateNamedPort(tcp.Port, ports, fld.Child("tcpSocket", "port"))...)
	}
	return allErrs
}

func validateLifecycleHandler(h *v1.LifecycleHandler, ports sets.Set[string], fld *field.Path) field.ErrorList {
	allErrs := exactlyOneHandler(h, fld)
	allErrs = append(allErrs, validateCommonHandlers(h.Exec, h.HTTPGet, h.TCPSocket, ports, fld)...)
	if h.Sleep != nil && h.Sleep.Seconds < 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("sleep", "seconds"), h.Sleep.Seconds, isNegativeErrorMsg))
	}
	return allErrs
}

func exactlyOneHandler(h any, fld *field.Path) field.ErrorList {
	set := setFields(h)
	switch {
	case len(set) == 0:
		return field.ErrorList{field.Required(fld, "must specify a handler type")}
	case len(set) > 1:
		return field.ErrorList{field.Forbidden(fld.Child(set[1]), "may not specify more than 1 handler type")}
	}
	return nil
}

func validateHTTPGet(h *v1.HTTPGetAction, ports sets.Set[string], fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if h.Path == "" {
		allErrs = append(allErrs, field.Required(fld.Child("path"), ""))
	}
	allErrs = append(allErrs, validateNamedPort(h.Port, ports, fld.Child("port"))...)
	allErrs = append(allErrs, validateEnum(string(h.Scheme), uriSchemes, fld.Child("scheme"))...)
	for i, hdr := range h.HTTPHeaders {
		for _, msg := range validation.IsHTTPHeaderName(hdr.Name) {
			allErrs = append(allErrs, field.Invalid(fld.Child("httpHeaders").Index(i).Child("name"), hdr.Name, msg))
		}
	}
	return allErrs
}

// validateNamedPort checks a port number, or a port name that must be one of
// the container's named ports.
func validateNamedPort(port intstr.IntOrString, ports sets.Set[string], fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if port.Type == intstr.Int {
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			allErrs = append(allErrs, field.Invalid(fld, port.IntValue(), msg))
		}
		return allErrs
	}
	for _, msg := range validation.IsValidPortName(port.StrVal) {
		allErrs = append(allErrs, field.Invalid(fld, port.StrVal, msg))
	}
	if len(allErrs) == 0 && !ports.Has(port.StrVal) {
		allErrs = append(allErrs, field.Invalid(fld, port.StrVal, "must be the name of one of the container's ports"))
	}
	return allErrs
}

func validateEnv(env []v1.EnvVar, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, e := range env {
		p := fld.Index(i)
		if e.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		} else {
			for _, msg := range validation.IsEnvVarName(e.Name) {
				allErrs = append(allErrs, field.Invalid(p.Child("name"), e.Name, msg))
			}
		}
		if e.ValueFrom == nil {
			continue
		}
		vp := p.Child("valueFrom")
		set := setFields(e.ValueFrom)
		switch {
		case len(set) == 0:
			allErrs = append(allErrs, field.Invalid(vp, "", "must specify one of: `fieldRef` or `resourceFieldRef`"))
			continue
		case len(set) > 1:
			allErrs = append(allErrs, field.Invalid(vp, "", "may not have more than one field specified at a time"))
			continue
		case e.Value != "":
			allErrs = append(allErrs, field.Invalid(vp, "", "may not be specified when `value` is not empty"))
		}
		switch {
		case e.ValueFrom.FieldRef != nil:
			allErrs = append(allErrs, validateEnvFieldRef(e.ValueFrom.FieldRef, vp.Child("fieldRef"))...)
		case e.ValueFrom.ResourceFieldRef != nil:
			r := e.ValueFrom.ResourceFieldRef
			if !sets.New(envResources...).Has(r.Resource) {
				allErrs = append(allErrs, field.NotSupported(vp.Child("resourceFieldRef", "resource"), r.Resource, envResources))
			}
			if !r.Divisor.IsZero() && r.Divisor.Sign() < 0 {
				allErrs = append(allErrs, field.Invalid(vp.Child("resourceFieldRef", "divisor"), r.Divisor.String(), isNegativeErrorMsg))
			}
		default:
			allErrs = append(allErrs, field.NotSupported(vp, set[0], []string{"fieldRef", "resourceFieldRef"}))
		}
	}
	return allErrs
}

func validateEnvFieldRef(ref *v1.ObjectFieldSelector, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if ref.APIVersion != "v1" {
		allErrs = append(allErrs, field.NotSupported(fld.Child("apiVersion"), ref.APIVersion, []string{"v1"}))
	}
	fp := ref.FieldPath
	switch {
	case fp == "":
		allErrs = append(allErrs, field.Required(fld.Child("fieldPath"), ""))
	case strings.HasPrefix(fp, "metadata.labels['") || strings.HasPrefix(fp, "metadata.annotations['"):
		if !strings.HasSuffix(fp, "']") || strings.Count(fp, "'") != 2 {
			allErrs = append(allErrs, field.Invalid(fld.Child("fieldPath"), fp, "error converting fieldPath: invalid subscript"))
		}
	case !sets.New(envFieldPaths...).Has(fp):
		supported := append([]string{"metadata.annotations['<KEY>']", "metadata.labels['<KEY>']"}, envFieldPaths...)
		allErrs = append(allErrs, field.NotSupported(fld.Child("fieldPath"), fp, supported))
	}
	return allErrs
}

func validateVolumeMounts(mounts []v1.VolumeMount, volumes sets.Set[string], fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	paths := sets.New[string]()
	for i, m := range mounts {
		p := fld.Index(i)
		if m.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		} else if !volumes.Has(m.Name) {
			allErrs = append(allErrs, field.NotFound(p.Child("name"), m.Name))
		}
		switch {
		case m.MountPath == "":
			allErrs = append(allErrs, field.Required(p.Child("mountPath"), ""))
		case !path.IsAbs(m.MountPath):
			allErrs = append(allErrs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be an absolute path"))
		case paths.Has(path.Clean(m.MountPath)):
			allErrs = append(allErrs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths.Insert(path.Clean(m.MountPath))
		if m.SubPath != "" {
			allErrs = append(allErrs, validateLocalDescendingPath(m.SubPath, p.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			allErrs = append(allErrs, field.Forbidden(p.Child("subPathExpr"), "not supported by miniagent"))
		}
		if m.MountPropagation != nil {
			allErrs = append(allErrs, validateEnum(string(*m.MountPropagation), []string{string(v1.MountPropagationBidirectional), string(v1.MountPropagationHostToContainer), string(v1.MountPropagationNone)}, p.Child("mountPropagation"))...)
		}
	}
	return allErrs
}

func validateLocalDescendingPath(p string, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if path.IsAbs(p) {
		allErrs = append(allErrs, field.Invalid(fld, p, "must be a relative path"))
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			allErrs = append(allErrs, field.Invalid(fld, p, "must not contain '..'"))
			break
		}
	}
	return allErrs
}
