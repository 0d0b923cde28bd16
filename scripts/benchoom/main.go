// Command benchoom measures two memory latencies of a running miniagent
// daemon, over N runs each, and prints median, p95, min and max:
//
//   - oom: a pod with a 32Mi memory limit runs a hog; the kernel's kill is
//     timed by polling the container cgroup's oom_kill counter (every 1 ms
//     by default, so the kill is known within about that), and the API time
//     is when a watch on the pod first shows state.terminated.reason
//     OOMKilled. "apply → Running" is printed for context.
//   - evict: a BestEffort pod allocates memory past a hard eviction
//     threshold on allocatableMemory.available; the crossing is timed by
//     polling the pods cgroup's working set (memory.usage_in_bytes minus
//     total_inactive_file, every 5 ms by default) against its
//     memory.limit_in_bytes minus the threshold, and the eviction is when a
//     watch shows phase Failed with reason Evicted.
//
// It needs a daemon it may fill with pods (the evict mode needs one started
// with --kube-reserved, --enforce-node-allocatable=pods and a matching
// --eviction-hard). scripts/bench-oom.sh starts and stops such daemons.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/miniagent/miniagent/agent/api"
)

type options struct {
	mode       string // oom or evict
	socket     string
	cgroupRoot string // the daemon's --cgroup-root
	namespace  string // Kubernetes namespace of the bench pods
	image      string
	runs       int
	timeout    time.Duration // per run

	killPoll  time.Duration // oom: oom_kill counter poll interval
	hogDelay  time.Duration // oom: how long the hog sleeps before allocating
	memLimit  string        // oom: container memory limit
	wsPoll    time.Duration // evict: working set poll interval
	threshold string        // evict: allocatableMemory.available threshold
	grow      string        // evict: how much the pod allocates (dd bs=)
	growDelay time.Duration // evict: how long the pod sleeps before allocating
	jitter    time.Duration // evict: random wait before each apply
	label     string        // evict: name of the configuration in the table
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "oom", "what to measure: oom or evict")
	flag.StringVar(&o.socket, "socket", "", "miniagent API socket")
	flag.StringVar(&o.cgroupRoot, "cgroup-root", "miniagent", "the daemon's --cgroup-root")
	flag.StringVar(&o.namespace, "n", "default", "Kubernetes namespace of the bench pods")
	flag.StringVar(&o.image, "image", "busybox", "image (with sh, sleep, tail, dd)")
	flag.IntVar(&o.runs, "runs", 20, "number of runs")
	flag.DurationVar(&o.timeout, "timeout", 90*time.Second, "give up on one run after this long")
	flag.DurationVar(&o.killPoll, "kill-poll", time.Millisecond, "oom: poll the container's oom_kill counter this often")
	flag.DurationVar(&o.hogDelay, "hog-delay", time.Second, "oom: the hog sleeps this long after start before allocating")
	flag.StringVar(&o.memLimit, "memory-limit", "32Mi", "oom: the hog container's memory limit")
	flag.DurationVar(&o.wsPoll, "ws-poll", 5*time.Millisecond, "evict: poll the pods cgroup's working set this often")
	flag.StringVar(&o.threshold, "threshold", "150Mi", "evict: the daemon's allocatableMemory.available hard threshold")
	flag.StringVar(&o.grow, "grow", "300M", "evict: how much the pod allocates (dd bs=)")
	flag.DurationVar(&o.growDelay, "grow-delay", time.Second, "evict: the pod sleeps this long after start before allocating")
	flag.DurationVar(&o.jitter, "jitter", time.Second, "evict: wait a random time in [0, jitter) before each apply (use the monitoring period)")
	flag.StringVar(&o.label, "label", "", "evict: configuration shown in the table title")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchoom:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.socket == "" {
		return errors.New("--socket is required")
	}
	if o.runs < 1 {
		return errors.New("--runs must be at least 1")
	}
	c := api.NewClient(o.socket)
	root := filepath.Join(memoryMount, o.cgroupRoot)
	switch o.mode {
	case "oom":
		return benchOOM(ctx, c, root, o)
	case "evict":
		return benchEvict(ctx, c, root, o)
	default:
		return fmt.Errorf("unknown --mode %q (oom or evict)", o.mode)
	}
}

// benchPod is a one-container busybox pod that never restarts and is
// killed at once on delete.
func benchPod(o options, name, script string, limits v1.ResourceList) *v1.Pod {
	grace := int64(0)
	return &v1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: o.namespace, Name: name},
		Spec: v1.PodSpec{
			RestartPolicy:                 v1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			Containers: []v1.Container{{
				Name:            "main",
				Image:           o.image,
				ImagePullPolicy: v1.PullIfNotPresent,
				Command:         []string{"sh", "-c", script},
				Resources:       v1.ResourceRequirements{Limits: limits},
			}},
		},
	}
}

// memoryLimits is a ResourceList with only a memory limit (nil for "").
func memoryLimits(q string) (v1.ResourceList, error) {
	if q == "" {
		return nil, nil
	}
	v, err := resource.ParseQuantity(q)
	if err != nil {
		return nil, fmt.Errorf("memory quantity %q: %w", q, err)
	}
	return v1.ResourceList{v1.ResourceMemory: v}, nil
}

// deletePod removes a bench pod and waits until it is gone.
func deletePod(c *api.Client, ns, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	grace := int64(0)
	if _, err := c.DeletePod(ctx, ns, name, &grace, true); err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", ns, name, err)
	}
	return nil
}
