package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/miniagent/miniagent/agent/api"
)

// serverScript starts busybox httpd (it daemonizes) and then waits for
// SIGTERM in a shell that mostly sleeps: three small processes per pod.
const serverScript = `mkdir -p /www && echo ok >/www/index.html && httpd -p 8080 -h /www && ` +
	`trap 'exit 0' TERM; while true; do sleep 3600 & wait $!; done`

// benchServerPath is where a pod sees the host's benchhttpd (hostPath).
const benchServerPath = "/bench/httpd"

// benchPod is one benchmark pod: an HTTP readiness probe and an exec
// liveness probe at the given periods (livePeriod 0: no liveness probe), no
// resource requests. With server (the host path of benchhttpd) the pod
// serves HTTP with it, one process; without, with busybox httpd, which
// forks a process per request.
func benchPod(ns, name, server string, readyPeriod, livePeriod int32) *v1.Pod {
	var grace int64 = 1
	p := &v1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "bench-probes"}},
		Spec: v1.PodSpec{
			RestartPolicy:                 v1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: &grace,
			Containers: []v1.Container{{
				Name:            "main",
				Image:           "busybox",
				ImagePullPolicy: v1.PullIfNotPresent,
				Command:         []string{"sh", "-c", serverScript},
				ReadinessProbe: &v1.Probe{
					ProbeHandler:  v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: readyPeriod, TimeoutSeconds: 1, FailureThreshold: 3, SuccessThreshold: 1,
				},
			}},
		},
	}
	if server != "" {
		file := v1.HostPathFile
		p.Spec.Volumes = []v1.Volume{{Name: "httpd", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: server, Type: &file}}}}
		c := &p.Spec.Containers[0]
		c.VolumeMounts = []v1.VolumeMount{{Name: "httpd", MountPath: benchServerPath, ReadOnly: true}}
		c.Command = []string{"sh", "-c", "mkdir -p /www && echo ok >/www/index.html && exec " + benchServerPath + " 8080"}
	}
	if livePeriod > 0 {
		p.Spec.Containers[0].LivenessProbe = &v1.Probe{
			ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/www/index.html"}}},
			PeriodSeconds: livePeriod, TimeoutSeconds: 1, FailureThreshold: 3, SuccessThreshold: 1,
		}
	}
	return p
}

// forEach runs f for every name with at most par calls at once and returns
// the first error.
func forEach(names []string, par int, f func(string) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, par)
	for _, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(n); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// podCounts is how many of the benchmark's pods run, are ready, and how many
// restarts their containers have in total.
type podCounts struct{ running, ready, restarts int }

func countPods(ctx context.Context, c *api.Client, ns string, want map[string]bool) (podCounts, error) {
	pods, err := c.ListPods(ctx, ns)
	if err != nil {
		return podCounts{}, err
	}
	var n podCounts
	for _, p := range pods {
		if !want[p.Name] {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			n.restarts += int(cs.RestartCount)
			if cs.State.Running != nil {
				n.running++
			}
			if cs.Ready {
				n.ready++
			}
		}
	}
	return n, nil
}

// waitReady polls until every pod is ready, printing progress now and then.
func waitReady(ctx context.Context, c *api.Client, ns string, names []string, timeout time.Duration) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	deadline := time.Now().Add(timeout)
	lastPrint := time.Time{}
	for {
		n, err := countPods(ctx, c, ns, want)
		if err != nil {
			return err
		}
		if n.ready == len(names) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %d of %d pods running, %d ready", timeout, n.running, len(names), n.ready)
		}
		if time.Since(lastPrint) > 10*time.Second {
			fmt.Printf("    %d running, %d ready of %d\n", n.running, n.ready, len(names))
			lastPrint = time.Now()
		}
		time.Sleep(time.Second)
	}
}
