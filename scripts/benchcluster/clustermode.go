package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/miniagent/miniagent/cmd/miniagent/e2e/cluster"
)

// clusterBench drives pods through the apiserver as an admin.
type clusterBench struct {
	o     options
	c     kubernetes.Interface
	agent *daemon
}

// newClusterBench waits until the agent's Node is Ready and the pods'
// namespace has its default service account and kube-root-ca.crt (which
// pods, and their token volume, need).
func newClusterBench(ctx context.Context, o options, cp *cluster.ControlPlane, agent *daemon) (*clusterBench, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.AdminKubeconfig)
	if err != nil {
		return nil, err
	}
	// client-go's default 5 QPS would hold back the idle pods' creates.
	cfg.QPS, cfg.Burst = 100, 200
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	b := &clusterBench{o: o, c: c, agent: agent}
	start := time.Now()
	err = poll(ctx, 2*time.Minute, func() (bool, string, error) {
		if !agent.alive() {
			return false, "", fmt.Errorf("agent %s exited:\n%s", agent.name, tailFile(agent.log, 20))
		}
		n, err := c.CoreV1().Nodes().Get(ctx, o.namespace, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == v1.NodeReady && cond.Status == v1.ConditionTrue {
				if _, err := c.CoreV1().ServiceAccounts(o.podNS).Get(ctx, "default", metav1.GetOptions{}); err != nil {
					return false, err.Error(), nil
				}
				if _, err := c.CoreV1().ConfigMaps(o.podNS).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
					return false, err.Error(), nil
				}
				return true, "", nil
			}
		}
		return false, "Node not Ready", nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", o.namespace, err)
	}
	fmt.Printf("==> Node %s Ready, namespace %s has its service account, %v after the agent started\n", o.namespace, o.podNS, time.Since(start).Round(time.Millisecond))
	return b, nil
}

// once creates one bound pod and times create → Running and Ready as a
// watch on the apiserver shows it, and create → the first status the agent
// wrote (startTime set: it has taken the pod); then deletes it (untimed).
func (b *clusterBench) once(ctx context.Context, name string) (total, taken time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	pods := b.c.CoreV1().Pods(b.o.podNS)
	// Opened before the clock starts, so no change is missed.
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return 0, 0, fmt.Errorf("watch %s: %w", name, err)
	}
	defer w.Stop()
	start := time.Now()
	created, err := pods.Create(ctx, benchPod(b.o.podNS, name, b.o.image, b.o.namespace, false), metav1.CreateOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("create %s: %w", name, err)
	}
	p, err := waitEvent(ctx, w, created.UID, agentTook)
	if err != nil {
		return 0, 0, fmt.Errorf("pod %s: %w", name, err)
	}
	taken = time.Since(start)
	if !runningReady(p) {
		if _, err := waitEvent(ctx, w, created.UID, runningReady); err != nil {
			return 0, 0, fmt.Errorf("pod %s: %w", name, err)
		}
	}
	total = time.Since(start)
	if err := b.delete(ctx, created); err != nil {
		return 0, 0, err
	}
	if _, err := waitEvent(ctx, w, created.UID, nil); err != nil {
		return 0, 0, fmt.Errorf("pod %s: %w", name, err)
	}
	return total, taken, nil
}

// agentTook reports a status written by the agent: the apiserver sets
// only phase Pending and qosClass at create, the agent startTime first.
func agentTook(p *v1.Pod) bool { return p.Status.StartTime != nil }

// delete asks for a graceful deletion of 1 s (0 would remove the pod
// from the apiserver at once, before the agent has stopped anything).
func (b *clusterBench) delete(ctx context.Context, p *v1.Pod) error {
	one := int64(1)
	err := b.c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &one, Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", p.Name, err)
	}
	return nil
}

// waitEvent reads w until the pod with uid satisfies done and returns it,
// or, with done nil, until it is deleted.
func waitEvent(ctx context.Context, w watch.Interface, uid types.UID, done func(*v1.Pod) bool) (*v1.Pod, error) {
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, errors.New("watch ended")
			}
			if ev.Type == watch.Error {
				return nil, fmt.Errorf("watch error: %v", apierrors.FromObject(ev.Object))
			}
			p, ok := ev.Object.(*v1.Pod)
			if !ok || p.UID != uid {
				continue
			}
			if done == nil {
				if ev.Type == watch.Deleted {
					return p, nil
				}
				continue
			}
			if done(p) {
				return p, nil
			}
			if err := failed(p); err != nil {
				return nil, err
			}
		case <-ctx.Done():
			if done == nil {
				return nil, errors.New("not deleted in time")
			}
			return nil, errors.New("not Running and Ready in time")
		}
	}
}

// cleanup deletes every pod of this program from the apiserver and waits
// until the agent has removed them (2 minutes at most).
func (b *clusterBench) cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sel := metav1.ListOptions{LabelSelector: benchLabel}
	pods := b.c.CoreV1().Pods(b.o.podNS)
	list, err := pods.List(ctx, sel)
	if err != nil {
		return fmt.Errorf("clean-up: list pods: %w", err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		if !b.agent.alive() {
			// Nobody would finish a graceful deletion; the shell script
			// removes the containers from containerd.
			zero := int64(0)
			err = pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		} else {
			err = b.delete(ctx, p)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("clean-up: %w", err)
		}
	}
	return poll(ctx, 2*time.Minute, func() (bool, string, error) {
		l, err := pods.List(ctx, sel)
		if err != nil {
			return false, err.Error(), nil
		}
		return len(l.Items) == 0, fmt.Sprintf("%d pods left", len(l.Items)), nil
	})
}

// poll calls f every 500 ms until it is done, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, f func() (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		ok, why, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %s", timeout, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
