package main

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// benchLabel marks every pod this program makes, for the clean-up.
const benchLabel = "miniagent.io/cbench"

// benchPod is the measured pod: one busybox container sleeping, grace
// period 0. nodeName binds it (cluster mode); automount false leaves out
// the apiserver's token volume, which a standalone daemon refuses.
func benchPod(ns, name, image, nodeName string, automount bool) *v1.Pod {
	var grace int64
	p := &v1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{benchLabel: "1"}},
		Spec: v1.PodSpec{
			NodeName:                      nodeName,
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 v1.RestartPolicyAlways,
			Containers: []v1.Container{{
				Name:            "sleep",
				Image:           image,
				ImagePullPolicy: v1.PullIfNotPresent,
				Command:         []string{"sleep", "3600"},
			}},
		},
	}
	if !automount {
		p.Spec.AutomountServiceAccountToken = &automount
	}
	return p
}

// runningReady reports phase Running with the Ready condition True.
func runningReady(pod *v1.Pod) bool {
	if pod.Status.Phase != v1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// failed reports a state the pod will not leave on its own soon.
func failed(pod *v1.Pod) error {
	if pod.Status.Phase == v1.PodFailed || pod.Status.Phase == v1.PodSucceeded {
		return fmt.Errorf("pod %s ended in phase %s: %s: %s", pod.Name, pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			return fmt.Errorf("pod %s container %s waiting: %s: %s", pod.Name, cs.Name, w.Reason, w.Message)
		}
	}
	return nil
}

// roundName names the pod of round i (i < 0: the warm-up).
func roundName(prefix string, i int) string {
	if i < 0 {
		return prefix + "-warmup"
	}
	return fmt.Sprintf("%s-%d", prefix, i+1)
}
