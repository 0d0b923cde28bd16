package main

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/miniagent/miniagent/agent/api"
)

// agentBench applies pods to a running daemon and waits for them to run.
type agentBench struct {
	o      options
	c      *api.Client
	events <-chan api.WatchEvent // nil when polling
	cancel context.CancelFunc
}

func newAgentBench(ctx context.Context, o options) (*agentBench, error) {
	b := &agentBench{o: o, c: api.NewClient(o.socket), cancel: func() {}}
	if _, err := b.c.Node(ctx); err != nil {
		return nil, fmt.Errorf("miniagent at %s: %w", o.socket, err)
	}
	if o.poll == 0 {
		// One watch for the whole benchmark, opened before the first POST so
		// no change can be missed.
		wctx, cancel := context.WithCancel(ctx)
		ch, err := b.c.WatchPods(wctx, o.podNamespace)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("watch pods: %w", err)
		}
		// The daemon drops a watcher that falls behind, and deletions
		// happen while nobody reads: keep the stream drained.
		buf := make(chan api.WatchEvent, 1<<14)
		go func() {
			defer close(buf)
			for ev := range ch {
				buf <- ev
			}
		}()
		b.events, b.cancel = buf, cancel
	}
	return b, nil
}

func (b *agentBench) close() { b.cancel() }

// benchPod is the measured pod: one busybox container sleeping.
func benchPod(ns, name, image string) *v1.Pod {
	var grace int64 = 0
	return &v1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.PodSpec{
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
}

// running reports whether pod is phase Running with its container running.
func running(pod *v1.Pod) bool {
	if pod.Status.Phase != v1.PodRunning || len(pod.Status.ContainerStatuses) != 1 {
		return false
	}
	return pod.Status.ContainerStatuses[0].State.Running != nil
}

// failed reports a state the pod will not leave on its own quickly.
func failed(pod *v1.Pod) error {
	if pod.Status.Phase == v1.PodFailed || pod.Status.Phase == v1.PodSucceeded {
		return fmt.Errorf("pod %s ended in phase %s: %s", pod.Name, pod.Status.Phase, pod.Status.Message)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			return fmt.Errorf("pod %s container %s waiting: %s: %s", pod.Name, cs.Name, w.Reason, w.Message)
		}
	}
	return nil
}

// once applies one pod, times apply → Running, then deletes it (untimed).
// It returns the time to Running and the time the POST alone took.
// i < 0 is the warm-up.
func (b *agentBench) once(ctx context.Context, i int) (time.Duration, time.Duration, error) {
	name := fmt.Sprintf("bench-%d", i+1)
	if i < 0 {
		name = "bench-warmup"
	}
	pod := benchPod(b.o.podNamespace, name, b.o.image)
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()

	start := time.Now()
	stored, _, err := b.c.Apply(ctx, pod)
	if err != nil {
		return 0, 0, fmt.Errorf("apply %s: %w", name, err)
	}
	post := time.Since(start)
	if b.events != nil {
		err = b.waitWatch(ctx, stored)
	} else {
		err = b.waitPoll(ctx, stored)
	}
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	var zero int64
	if _, err := b.c.DeletePod(ctx, b.o.podNamespace, name, &zero, true); err != nil {
		return 0, 0, fmt.Errorf("delete %s: %w", name, err)
	}
	return d, post, nil
}

func (b *agentBench) waitWatch(ctx context.Context, stored *v1.Pod) error {
	if running(stored) {
		return nil
	}
	for {
		select {
		case ev, ok := <-b.events:
			if !ok {
				return fmt.Errorf("watch ended while waiting for %s", stored.Name)
			}
			if ev.Pod.UID != stored.UID {
				continue
			}
			if running(&ev.Pod) {
				return nil
			}
			if err := failed(&ev.Pod); err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("pod %s not Running after %s", stored.Name, b.o.timeout)
		}
	}
}

func (b *agentBench) waitPoll(ctx context.Context, stored *v1.Pod) error {
	t := time.NewTicker(b.o.poll)
	defer t.Stop()
	pod := stored
	for {
		if running(pod) {
			return nil
		}
		if err := failed(pod); err != nil {
			return err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("pod %s not Running after %s", stored.Name, b.o.timeout)
		}
		p, err := b.c.GetPod(ctx, b.o.podNamespace, stored.Name)
		if err != nil {
			return fmt.Errorf("get %s: %w", stored.Name, err)
		}
		pod = p
	}
}
