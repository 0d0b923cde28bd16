package podstatus

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestTerminateContainers(t *testing.T) {
	waiting := func(name, reason string) v1.ContainerStatus {
		return v1.ContainerStatus{Name: name, State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: reason}}}
	}
	exited := func(name string, code int32) v1.ContainerStatus {
		return v1.ContainerStatus{Name: name, State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: code, Reason: "Completed"}}}
	}
	always := v1.ContainerRestartPolicyAlways
	podWith := func(inits ...v1.Container) *v1.Pod {
		return &v1.Pod{Spec: v1.PodSpec{InitContainers: inits, Containers: []v1.Container{{Name: "app"}, {Name: "side"}}}}
	}
	unknown, w, kept := "unknown", "waiting", "kept"
	for _, tc := range []struct {
		name         string
		pod          *v1.Pod
		inits, regs  []v1.ContainerStatus
		wantInits    []string
		wantRegulars []string
	}{
		{"no init containers: waiting ones end unknown", podWith(),
			nil, []v1.ContainerStatus{waiting("app", "ContainerCreating"), exited("side", 0)},
			nil, []string{unknown, kept}},
		{"never initialized: regular stay waiting, the first init ends unknown", podWith(v1.Container{Name: "i1"}, v1.Container{Name: "i2"}),
			[]v1.ContainerStatus{waiting("i1", "PodInitializing"), waiting("i2", "PodInitializing")},
			[]v1.ContainerStatus{waiting("app", "PodInitializing"), waiting("side", "PodInitializing")},
			[]string{unknown, w}, []string{w, w}},
		{"init done: every regular container ends", podWith(v1.Container{Name: "i1"}),
			[]v1.ContainerStatus{exited("i1", 0)},
			[]v1.ContainerStatus{waiting("app", "ContainerCreating"), waiting("side", "ContainerCreating")},
			[]string{kept}, []string{unknown, unknown}},
		{"init failed: regular stay waiting", podWith(v1.Container{Name: "i1"}),
			[]v1.ContainerStatus{exited("i1", 1)},
			[]v1.ContainerStatus{waiting("app", "PodInitializing"), waiting("side", "PodInitializing")},
			[]string{kept}, []string{w, w}},
		{"running sidecar counts as initialized", podWith(v1.Container{Name: "i1", RestartPolicy: &always}),
			[]v1.ContainerStatus{{Name: "i1", Started: ptrTrue(), State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}},
			[]v1.ContainerStatus{waiting("app", "ContainerCreating"), waiting("side", "ContainerCreating")},
			[]string{unknown}, []string{unknown, unknown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &v1.PodStatus{InitContainerStatuses: tc.inits, ContainerStatuses: tc.regs}
			before := st.DeepCopy()
			TerminateContainers(tc.pod, st)
			check := func(kind string, got, was []v1.ContainerStatus, want []string) {
				for i, expect := range want {
					s := got[i].State
					switch expect {
					case unknown:
						if s.Terminated == nil || s.Terminated.Reason != "ContainerStatusUnknown" || s.Terminated.ExitCode != 137 ||
							s.Terminated.Message != "The container could not be located when the pod was terminated" || s.Waiting != nil {
							t.Errorf("%s %s: %+v, want terminated ContainerStatusUnknown 137", kind, got[i].Name, s)
						}
					case w:
						if s.Waiting == nil || s.Terminated != nil {
							t.Errorf("%s %s: %+v, want still waiting", kind, got[i].Name, s)
						}
					case kept:
						if s.Terminated == nil || *s.Terminated != *was[i].State.Terminated {
							t.Errorf("%s %s: %+v, want its own terminated state kept", kind, got[i].Name, s)
						}
					}
				}
			}
			check("init", st.InitContainerStatuses, before.InitContainerStatuses, tc.wantInits)
			check("container", st.ContainerStatuses, before.ContainerStatuses, tc.wantRegulars)
		})
	}
}

func ptrTrue() *bool { b := true; return &b }
