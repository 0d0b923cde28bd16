// Package spec turns decoded pod manifests (package manifest parses YAML
// or JSON strictly) into API objects the agent can run: SetDefaults fills in
// what the API server would have stored, and
// Validate / ValidateUpdate reject what the API server would reject, each
// problem reported with its field path. NormalizeImage expands image
// references to the fully qualified form containerd needs.
//
// No field is silently ignored: Validate also rejects, with field.Forbidden
// or field.NotSupported ("not supported by miniagent: <why>"), every field
// the agent would accept but not act on. What the agent does with the rest:
//
// Acted on (agent, runtime/containerd): containers and init/sidecar
// containers with command, args, workingDir, env (value, fieldRef,
// resourceFieldRef), resources (cpu, memory; requests of the others count in
// admission), probes, imagePullPolicy, restartPolicy; volumes emptyDir
// (medium, mode, sizeLimit of a tmpfs) and hostPath; volumeMounts with
// readOnly, subPath, recursiveReadOnly, bindMountOptions, mountPropagation;
// restartPolicy, terminationGracePeriodSeconds, activeDeadlineSeconds,
// hostNetwork, hostIPC, hostPID, hostname, hostnameOverride, dnsPolicy and
// dnsConfig (the pod's /etc/resolv.conf; ClusterFirst falls back to the
// node's, as on a kubelet without cluster DNS), hostAliases (the pod's
// /etc/hosts), nodeName, nodeSelector, affinity, tolerations, os, priority
// and the two built-in priorityClassNames (eviction, oom_score_adj);
// securityContext runAsUser, runAsGroup, runAsNonRoot, fsGroup (groups and
// emptyDir ownership), supplementalGroups, supplementalGroupsPolicy, sysctls
// (the kubelet's safe set), seccompProfile, capabilities, privileged,
// allowPrivilegeEscalation, readOnlyRootFilesystem; hostPort with
// hostNetwork (admission).
//
// Accepted, no effect, as on a kubelet with no cluster around it: read only
// by a scheduler (schedulerName, preemptionPolicy, topologySpreadConstraints,
// schedulingGroup) or by the API server and its controllers
// (automountServiceAccountToken, evictionResponders); serviceAccountName
// (only as fieldRef env); subdomain, and setHostnameAsFQDN without one (no
// cluster domain, no pod IP: see agent.podHostname); enableServiceLinks
// (there are no services); fsGroupChangePolicy (the kubelet does not apply
// it to emptyDirs either); seLinuxChangePolicy (no SELinux labels);
// appArmorProfile Unconfined and procMount Default (what containers get
// anyway); hostUsers true and shareProcessNamespace false (the defaults).
// One known gap: every pod has the default terminationMessagePath and
// policy, but the message is not read into the container's status yet.
//
// Rejected (validate_unsupported.go, validate_security.go):
// ephemeralContainers, shareProcessNamespace, hostUsers false,
// imagePullSecrets, readinessGates, runtimeClassName, overhead,
// schedulingGates, resourceClaims, pod-level resources, other
// priorityClassNames, setHostnameAsFQDN with a subdomain; seLinuxOptions,
// windowsOptions, AppArmor profiles other than Unconfined, procMount
// Unmasked, unsafe sysctls; lifecycle hooks, a terminationMessagePath or
// policy other than the default, tty without stdin, resizePolicy,
// restartPolicyRules, resources.claims, ephemeral-storage limits, hostPort
// without hostNetwork, envFrom, env from configMaps or secrets,
// volumeDevices, subPathExpr, an emptyDir sizeLimit on disk, and every
// volume type but emptyDir and hostPath.
//
// Pods from an API server (cluster mode, ValidateFromAPIServer) may also
// have configMap, secret, downwardAPI and projected volumes
// (serviceAccountToken, configMap, secret and downwardAPI sources; the
// kube-api-access volume the API server adds to every pod): agent/apivolume
// resolves them through the API server. A standalone agent refuses them
// (spec.volumes[i]: Unsupported value), as a kubelet without an API server
// cannot resolve them either.
package spec
