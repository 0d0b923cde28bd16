package containerd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/miniagent/miniagent/runtime"
)

// CreateContainer creates the container and a fresh snapshot named after its
// ID. The OCI spec is built from the image config first, then the Kubernetes
// overrides in spec (see SpecOpts). No task is created.
func (r *Runtime) CreateContainer(ctx context.Context, spec runtime.ContainerSpec) error {
	ctx = r.ns(ctx)
	if spec.ID == "" {
		return fmt.Errorf("create container: empty ID")
	}
	img, err := r.findImage(ctx, spec.Image)
	if err != nil {
		return fmt.Errorf("create container %q: %w", spec.ID, err)
	}
	f, err := r.factsOf(ctx, img)
	if err != nil {
		return fmt.Errorf("create container %q: %w", spec.ID, err)
	}
	if err := r.ensureUnpacked(ctx, img, f); err != nil {
		return fmt.Errorf("create container %q: %w", spec.ID, err)
	}
	labels := make(map[string]string, len(spec.Labels)+2)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	if spec.LogPath != "" {
		labels[LabelLogPath] = spec.LogPath
	}
	if spec.CgroupsPath != "" {
		labels[LabelCgroupsPath] = spec.CgroupsPath
	}
	if l := stdinLabel(spec); l != "" {
		labels[LabelStdin] = l
		if spec.TTY {
			labels[LabelTTY] = "true"
		}
	}
	sopts := SpecOpts(factsImage{f: f, store: img.ContentStore()}, f.spec.Config, spec)
	// The exec server relies on the container's PID namespace to end with
	// it: a hostPID container execs through runc only.
	if r.opts.ExecHelper != "" && !spec.HostPID {
		sopts = append(sopts, withExecHelper(r.opts.ExecHelper))
		labels[LabelExecHelper] = ExecHelperPath
	}
	create := func() (client.Container, error) {
		lctx, err := r.withCreateLease(ctx)
		if err != nil {
			return nil, err
		}
		return r.client.NewContainer(lctx, spec.ID,
			client.WithImage(img),
			withStopSignal(f.spec.Config.StopSignal, "SIGTERM"),
			withSnapshotOf(r.opts.Snapshotter, spec.ID, f.chainID),
			client.WithNewSpec(sopts...),
			client.WithAdditionalContainerLabels(labels),
		)
	}
	c, err := create()
	if errdefs.IsNotFound(err) {
		// The lease may be gone (collected, or containerd's state lost):
		// nothing was made, so once more under a new one.
		r.dropCreateLease()
		c, err = create()
	}
	if err != nil {
		return classify(fmt.Errorf("create container %q: %w", spec.ID, err))
	}
	r.created.Store(spec.ID, c)
	return nil
}

// SpecOpts are the OCI spec options for spec on top of img, in order: image
// config (entrypoint, cmd, env, working dir, user), then the Kubernetes
// command/args (ic is img's config), env, working dir, user/group, the
// security options (groups, capabilities, privileged, no_new_privs,
// read-only root, seccomp, sysctls), namespaces, hostname, mounts (and the
// propagation they ask for), cgroup, resources and oom_score_adj, and the
// shim group annotation (see ShimGroup).
func SpecOpts(img oci.Image, ic ocispec.ImageConfig, spec runtime.ContainerSpec) []oci.SpecOpts {
	return append([]oci.SpecOpts{oci.WithImageConfig(img)}, kubeSpecOpts(ic, spec)...)
}

// kubeSpecOpts are SpecOpts less the image config.
func kubeSpecOpts(ic ocispec.ImageConfig, spec runtime.ContainerSpec) []oci.SpecOpts {
	opts := []oci.SpecOpts{
		withKubeArgs(ic, spec.Command, spec.Args),
		withShimGroup(spec),
	}
	if len(spec.Env) > 0 {
		opts = append(opts, oci.WithEnv(spec.Env))
	}
	if spec.TTY && spec.Stdin {
		opts = append(opts, withTTY)
	}
	if spec.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(spec.WorkingDir))
	}
	switch {
	case spec.RunAsUser != nil && spec.RunAsGroup != nil:
		opts = append(opts, oci.WithUIDGID(uint32(*spec.RunAsUser), uint32(*spec.RunAsGroup)))
	case spec.RunAsUser != nil:
		opts = append(opts, oci.WithUserID(uint32(*spec.RunAsUser)))
	case spec.RunAsGroup != nil:
		opts = append(opts, withGID(uint32(*spec.RunAsGroup)))
	}
	opts = append(opts, securityOpts(ic, spec)...)
	// Network: the sandbox's namespace, or the host's. With the host's
	// network the UTS namespace is the host's too (as the kubelet does), so
	// no hostname is set; otherwise every container gets its own UTS.
	if p := spec.Sandbox.NetNSPath; p != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: p}))
		if spec.Hostname != "" {
			opts = append(opts, oci.WithHostname(spec.Hostname))
		}
	} else {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostNamespace(specs.UTSNamespace))
	}
	if p := spec.Sandbox.IPCNSPath; p != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: p}))
	} else {
		opts = append(opts, oci.WithHostNamespace(specs.IPCNamespace))
	}
	// PID namespace: the host's for hostPID, else new per container (the
	// default spec's), as is the mount namespace.
	if spec.HostPID {
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	}
	if len(spec.Mounts) > 0 {
		opts = append(opts, oci.WithMounts(ociMounts(spec.Mounts)), withPropagation(spec.Mounts))
	}
	if spec.CgroupsPath != "" {
		opts = append(opts, oci.WithCgroup(spec.CgroupsPath))
	}
	res := spec.Resources
	if res.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(res.MemoryLimit)))
		if swapLimitSupported() {
			// No swap beyond the limit, as the kubelet does.
			opts = append(opts, oci.WithMemorySwap(res.MemoryLimit))
		}
	}
	if res.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(res.CPUShares))
	}
	if res.CPUQuota > 0 || res.CPUPeriod > 0 {
		opts = append(opts, oci.WithCPUCFS(res.CPUQuota, res.CPUPeriod))
	}
	if spec.OOMScoreAdj != nil {
		opts = append(opts, withOOMScoreAdj(*spec.OOMScoreAdj))
	}
	return opts
}

// AnnotationShimGroup is the OCI annotation by which the runc v2 shim
// (io.containerd.runc.v2) groups tasks: when a task is created, the shim's
// start command derives its socket from this value (instead of the task ID)
// and, if a shim already listens there, hands the task to it. The CRI
// plugin reaches the same through io.kubernetes.cri.sandbox-id.
const AnnotationShimGroup = "io.containerd.runc.v2.group"

// ShimGroup is the shim group of a container: its pod's UID, so that every
// container of a pod (init and app containers, every restart) runs under
// one shim, which exits when the pod's last task is deleted. The socket is
// derived from containerd's address, the namespace and the group, so pods
// of other namespaces or daemons never share. "" (no pod UID) leaves the
// container a shim of its own.
func ShimGroup(spec runtime.ContainerSpec) string {
	if uid := spec.Labels[runtime.LabelPodUID]; uid != "" {
		return uid
	}
	return spec.Sandbox.PodUID
}

// withShimGroup annotates the spec with the container's shim group.
func withShimGroup(spec runtime.ContainerSpec) oci.SpecOpts {
	g := ShimGroup(spec)
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if g == "" {
			return nil
		}
		return oci.WithAnnotations(map[string]string{AnnotationShimGroup: g})(ctx, c, ctr, s)
	}
}

// withKubeArgs applies Kubernetes command/args semantics on top of the image
// config: Command replaces ENTRYPOINT and drops CMD; Args replace CMD.
func withKubeArgs(ic ocispec.ImageConfig, command, args []string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if command == nil && args == nil {
			return nil
		}
		argv := KubeArgv(ic.Entrypoint, ic.Cmd, command, args)
		if len(argv) == 0 {
			return fmt.Errorf("no command specified and the image has neither ENTRYPOINT nor CMD")
		}
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.Args = argv
		return nil
	}
}

// KubeArgv computes a container's argv the Kubernetes way from the image's
// ENTRYPOINT and CMD and the pod's command and args (nil = not set).
func KubeArgv(entrypoint, cmd, command, args []string) []string {
	var argv []string
	switch {
	case command != nil:
		argv = append(argv, command...)
	default:
		argv = append(argv, entrypoint...)
		if args == nil {
			argv = append(argv, cmd...)
		}
	}
	if args != nil {
		argv = append(argv, args...)
	}
	return argv
}

func withGID(gid uint32) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.User.GID = gid
		return nil
	}
}

// withOOMScoreAdj sets the container process's oom_score_adj; containerd
// has no ready option for it.
func withOOMScoreAdj(adj int) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		v := adj
		s.Process.OOMScoreAdj = &v
		return nil
	}
}

func ociMounts(ms []runtime.Mount) []specs.Mount {
	out := make([]specs.Mount, 0, len(ms))
	for _, m := range ms {
		om := specs.Mount{Destination: m.Destination, Source: m.Source, Type: m.Type}
		switch m.Type {
		case "tmpfs":
			if om.Source == "" {
				om.Source = "tmpfs"
			}
			om.Options = append([]string{"nosuid", "nodev"}, m.Options...)
		default: // bind
			om.Type = "bind"
			om.Options = append([]string{"rbind"}, m.Options...)
		}
		out = append(out, om)
	}
	return out
}

// swapLimitSupported reports whether the memory controller accepts a swap
// limit (v1 needs swap accounting for memory.memsw.*).
var swapLimitSupported = sync.OnceValue(func() bool {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"); err == nil {
		return true
	}
	data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return err == nil && strings.Contains(string(data), "memory")
})
