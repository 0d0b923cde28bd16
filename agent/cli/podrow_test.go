package cli

import (
	"reflect"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func running() v1.ContainerState {
	return v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: ago(time.Minute)}}
}
func waiting(r string) v1.ContainerState {
	return v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: r}}
}
func terminated(code int32, r string) v1.ContainerState {
	return v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: code, Reason: r, FinishedAt: ago(30 * time.Second)}}
}

func testPod(inits, apps int) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", CreationTimestamp: ago(3*time.Minute + 2*time.Second)}}
	for i := 0; i < inits; i++ {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: "init" + string(rune('a'+i))})
	}
	for i := 0; i < apps; i++ {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "c" + string(rune('a'+i))})
	}
	return p
}

func cs(name string, st v1.ContainerState, ready bool, restarts int32) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, State: st, Ready: ready, RestartCount: restarts}
}

func TestPodRow(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	tru := true
	for _, tc := range []struct {
		name string
		pod  func() *v1.Pod
		want []string // READY STATUS RESTARTS
	}{
		{"pending no status", func() *v1.Pod { p := testPod(0, 1); p.Status.Phase = v1.PodPending; return p }, []string{"0/1", "Pending", "0"}},
		{"creating", func() *v1.Pod {
			p := testPod(0, 2)
			p.Status.Phase = v1.PodPending
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", waiting("ContainerCreating"), false, 0), cs("cb", waiting("ContainerCreating"), false, 0)}
			return p
		}, []string{"0/2", "ContainerCreating", "0"}},
		{"running ready", func() *v1.Pod {
			p := testPod(0, 2)
			p.Status.Phase = v1.PodRunning
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", running(), true, 0), cs("cb", running(), false, 0)}
			return p
		}, []string{"1/2", "Running", "0"}},
		{"crash loop with restarts ago", func() *v1.Pod {
			p := testPod(0, 1)
			p.Status.Phase = v1.PodRunning
			st := cs("ca", waiting("CrashLoopBackOff"), false, 3)
			st.LastTerminationState = terminated(1, "Error")
			p.Status.ContainerStatuses = []v1.ContainerStatus{st}
			return p
		}, []string{"0/1", "CrashLoopBackOff", "3 (30s ago)"}},
		{"first container's reason wins", func() *v1.Pod {
			p := testPod(0, 2)
			p.Status.Phase = v1.PodRunning
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", waiting("ErrImagePull"), false, 0), cs("cb", terminated(137, "OOMKilled"), false, 0)}
			return p
		}, []string{"0/2", "ErrImagePull", "0"}},
		{"oom killed", func() *v1.Pod {
			p := testPod(0, 1)
			p.Status.Phase = v1.PodFailed
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", terminated(137, "OOMKilled"), false, 0)}
			return p
		}, []string{"0/1", "OOMKilled", "0"}},
		{"completed", func() *v1.Pod {
			p := testPod(0, 1)
			p.Status.Phase = v1.PodSucceeded
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", terminated(0, "Completed"), false, 0)}
			return p
		}, []string{"0/1", "Completed", "0"}},
		{"terminated without reason", func() *v1.Pod {
			p := testPod(0, 1)
			p.Status.Phase = v1.PodFailed
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", terminated(3, ""), false, 0)}
			return p
		}, []string{"0/1", "ExitCode:3", "0"}},
		{"completed next to running, ready", func() *v1.Pod {
			p := testPod(0, 2)
			p.Status.Phase = v1.PodRunning
			p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", terminated(0, "Completed"), false, 0), cs("cb", running(), true, 0)}
			return p
		}, []string{"1/2", "Running", "0"}},
		{"completed next to running, not ready", func() *v1.Pod {
			p := testPod(0, 2)
			p.Status.Phase = v1.PodRunning
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", terminated(0, "Completed"), false, 0), cs("cb", running(), true, 0)}
			return p
		}, []string{"1/2", "NotReady", "0"}},
		{"evicted", func() *v1.Pod {
			p := testPod(0, 1)
			p.Status.Phase = v1.PodFailed
			p.Status.Reason = "Evicted"
			return p
		}, []string{"0/1", "Evicted", "0"}},
		{"init running", func() *v1.Pod {
			p := testPod(2, 1)
			p.Status.Phase = v1.PodPending
			p.Status.InitContainerStatuses = []v1.ContainerStatus{cs("inita", terminated(0, "Completed"), false, 0), cs("initb", running(), false, 0)}
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", waiting("PodInitializing"), false, 0)}
			return p
		}, []string{"0/1", "Init:1/2", "0"}},
		{"init waiting PodInitializing counts as progress", func() *v1.Pod {
			p := testPod(1, 1)
			p.Status.Phase = v1.PodPending
			p.Status.InitContainerStatuses = []v1.ContainerStatus{cs("inita", waiting("PodInitializing"), false, 0)}
			return p
		}, []string{"0/1", "Init:0/1", "0"}},
		{"init crash loop", func() *v1.Pod {
			p := testPod(1, 1)
			p.Status.Phase = v1.PodPending
			st := cs("inita", waiting("CrashLoopBackOff"), false, 2)
			st.LastTerminationState = terminated(1, "Error")
			p.Status.InitContainerStatuses = []v1.ContainerStatus{st}
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", waiting("PodInitializing"), false, 0)}
			return p
		}, []string{"0/1", "Init:CrashLoopBackOff", "2 (30s ago)"}},
		{"init error", func() *v1.Pod {
			p := testPod(1, 1)
			p.Status.Phase = v1.PodFailed
			p.Status.InitContainerStatuses = []v1.ContainerStatus{cs("inita", terminated(1, "Error"), false, 0)}
			return p
		}, []string{"0/1", "Init:Error", "0"}},
		{"init signal", func() *v1.Pod {
			p := testPod(1, 1)
			p.Status.Phase = v1.PodFailed
			st := terminated(137, "")
			st.Terminated.Signal = 9
			p.Status.InitContainerStatuses = []v1.ContainerStatus{cs("inita", st, false, 0)}
			return p
		}, []string{"0/1", "Init:Signal:9", "0"}},
		{"inits done, app initializing", func() *v1.Pod {
			p := testPod(1, 1)
			p.Status.Phase = v1.PodPending
			p.Status.InitContainerStatuses = []v1.ContainerStatus{cs("inita", terminated(0, "Completed"), false, 0)}
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", waiting("PodInitializing"), false, 0)}
			return p
		}, []string{"0/1", "PodInitializing", "0"}},
		{"sidecar counted and restarts kept", func() *v1.Pod {
			p := testPod(1, 1)
			p.Spec.InitContainers[0].RestartPolicy = &always
			p.Status.Phase = v1.PodRunning
			side := cs("inita", running(), true, 1)
			side.Started = &tru
			side.LastTerminationState = terminated(1, "Error")
			p.Status.InitContainerStatuses = []v1.ContainerStatus{side}
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", running(), true, 0)}
			return p
		}, []string{"2/2", "Running", "1 (30s ago)"}},
		{"terminating", func() *v1.Pod {
			p := testPod(0, 1)
			p.Status.Phase = v1.PodRunning
			d := ago(time.Second)
			p.DeletionTimestamp = &d
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", running(), true, 0)}
			return p
		}, []string{"1/1", "Terminating", "0"}},
		{"deleted but finished", func() *v1.Pod {
			p := testPod(0, 1)
			p.Status.Phase = v1.PodSucceeded
			d := ago(time.Second)
			p.DeletionTimestamp = &d
			p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", terminated(0, "Completed"), false, 0)}
			return p
		}, []string{"0/1", "Completed", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := podRow(tc.pod(), now, false)
			if got := row[1:4]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if row[0] != "p" || row[4] != "3m2s" {
				t.Errorf("name/age = %q/%q", row[0], row[4])
			}
		})
	}
}

func TestPodRowWide(t *testing.T) {
	p := testPod(0, 1)
	p.Spec.NodeName = "node1"
	p.Spec.ReadinessGates = []v1.PodReadinessGate{{ConditionType: "a"}, {ConditionType: "b"}}
	p.Status.Conditions = []v1.PodCondition{{Type: "a", Status: v1.ConditionTrue}, {Type: "b", Status: v1.ConditionFalse}}
	p.Status.PodIPs = []v1.PodIP{{IP: "10.0.0.5"}}
	got := podRow(p, now, true)[5:]
	if want := []string{"10.0.0.5", "node1", "<none>", "1/2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("wide cells %q, want %q", got, want)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second:               "5s",
		3*time.Minute + 2*time.Second: "3m2s",
		2 * time.Hour:                 "120m",
		5 * time.Hour:                 "5h",
		49 * time.Hour:                "2d1h",
		3 * 24 * time.Hour:            "3d",
	} {
		if got := since(ago(d), now); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
	if got := since(metav1.Time{}, now); got != "<unknown>" {
		t.Errorf("zero time: %q", got)
	}
}
