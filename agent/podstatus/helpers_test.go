package podstatus

import (
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptrBool(b bool) *bool { return &b }

func running(name string) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, Started: ptrBool(true),
		State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}
}

func runningNotStarted(name string) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, Started: ptrBool(false),
		State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}
}

func readyRunning(name string) v1.ContainerStatus {
	s := running(name)
	s.Ready = true
	return s
}

func terminated(name string, code int32) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, Started: ptrBool(false),
		State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: code}}}
}

func waiting(name string) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name,
		State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
}

// waitingAfter is a container waiting for a restart after exiting with code.
func waitingAfter(name string, code int32) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name,
		State:                v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: code}}}
}

// noState is a status whose State has nothing set.
func noState(name string) v1.ContainerStatus { return v1.ContainerStatus{Name: name} }

func sts(s ...v1.ContainerStatus) []v1.ContainerStatus { return s }

var always = v1.ContainerRestartPolicyAlways

func ctr(name string) v1.Container { return v1.Container{Name: name} }

func sidecar(name string) v1.Container { return v1.Container{Name: name, RestartPolicy: &always} }

func podOf(policy v1.RestartPolicy, inits []v1.Container, names ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: v1.PodSpec{RestartPolicy: policy, InitContainers: inits}}
	for _, n := range names {
		p.Spec.Containers = append(p.Spec.Containers, ctr(n))
	}
	return p
}

func inits(c ...v1.Container) []v1.Container { return c }
