package containerd

import (
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/miniagent/miniagent/runtime"
)

// TestShimGroupAnnotation: the OCI spec of every container of a pod (init
// and app containers, restarts, with or without a sandbox) carries the
// pod's UID as the runc v2 shim's group; another pod's carry its own; a
// container without a pod UID gets no group (a shim of its own).
func TestShimGroupAnnotation(t *testing.T) {
	spec := func(uid, name, attempt string, init bool) runtime.ContainerSpec {
		s := runtime.ContainerSpec{
			ID: uid + "-" + name + "-" + attempt,
			Labels: map[string]string{
				runtime.LabelPodUID: uid, runtime.LabelContainerName: name, runtime.LabelAttempt: attempt,
			},
			Command: []string{"sleep", "1"},
			Sandbox: runtime.Sandbox{PodUID: uid, NetNSPath: "/run/ns/" + uid + "/net"},
		}
		if init {
			s.Labels[runtime.LabelInit] = "true"
		}
		return s
	}
	noSandbox := spec("pod-1", "hostnet", "0", false)
	noSandbox.Sandbox = runtime.Sandbox{}
	onlySandbox := spec("pod-2", "x", "0", false)
	delete(onlySandbox.Labels, runtime.LabelPodUID)
	for _, tc := range []struct {
		name string
		spec runtime.ContainerSpec
		want string // "" = no annotation
	}{
		{"init container", spec("pod-1", "init", "0", true), "pod-1"},
		{"app container", spec("pod-1", "web", "0", false), "pod-1"},
		{"second app container", spec("pod-1", "sidecar", "0", false), "pod-1"},
		{"restart", spec("pod-1", "web", "3", false), "pod-1"},
		{"pod uid from the label alone", noSandbox, "pod-1"},
		{"pod uid from the sandbox alone", onlySandbox, "pod-2"},
		{"another pod", spec("pod-2", "web", "0", false), "pod-2"},
		{"no pod uid", runtime.ContainerSpec{ID: "bare", Command: []string{"true"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, s := defaultSpec(t, testRootfs(t), 0, 0)
			s.Annotations = map[string]string{"keep": "me"}
			if err := oci.ApplyOpts(ctx, nil, &containers.Container{ID: tc.spec.ID}, s, kubeSpecOpts(ocispec.ImageConfig{}, tc.spec)...); err != nil {
				t.Fatal(err)
			}
			got, ok := s.Annotations[AnnotationShimGroup]
			if tc.want == "" && ok {
				t.Errorf("annotation %s = %q, want none", AnnotationShimGroup, got)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("annotation %s = %q, want %q", AnnotationShimGroup, got, tc.want)
			}
			if s.Annotations["keep"] != "me" {
				t.Errorf("other annotations lost: %v", s.Annotations)
			}
		})
	}
	// The key is the one containerd 1.6's runc v2 shim manager reads first
	// (runtime/v2/runc/manager: groupLabels).
	if AnnotationShimGroup != "io.containerd.runc.v2.group" {
		t.Errorf("AnnotationShimGroup = %q", AnnotationShimGroup)
	}
}
