package sources

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func boundTo(name, node string, annotations map[string]string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), Annotations: annotations},
		Spec:       v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "app", Image: "busybox"}}},
	}
}

func podNames(u Update) string {
	var out []string
	for _, p := range u.Pods {
		out = append(out, p.Name)
	}
	return strings.Join(out, ",")
}

func nextUpdate(t *testing.T, ch <-chan Update) Update {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update")
		return Update{}
	}
}

func TestAPIServerSourceSendsThisNodesPods(t *testing.T) {
	client := fake.NewClientset(
		boundTo("web", "node-a", nil),
		boundTo("elsewhere", "node-b", nil),
		boundTo("etcd-node-a", "node-a", map[string]string{MirrorAnnotation: "hash"}),
	)
	s := NewAPIServerSource(client, "node-a", slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Update)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, out) }()

	u := nextUpdate(t, out)
	if u.Source != SourceAPIServer || podNames(u) != "web" {
		t.Fatalf("first update %s %q, want apiserver [web] (no mirror pod, no other node's)", u.Source, podNames(u))
	}
	if p := u.Pods[0]; p.UID != "uid-web" || p.Spec.RestartPolicy != v1.RestartPolicyAlways {
		t.Fatalf("pod not kept with its UID and defaulted: uid %s restartPolicy %q", p.UID, p.Spec.RestartPolicy)
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, boundTo("db", "node-a", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if u := nextUpdate(t, out); podNames(u) != "db,web" {
		t.Fatalf("after a create: %q, want the whole set db,web", podNames(u))
	}
	if err := client.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if u := nextUpdate(t, out); podNames(u) != "db" {
		t.Fatalf("after a delete: %q, want db", podNames(u))
	}
	if c := s.Cached("default", "db"); c == nil || c.UID != "uid-db" {
		t.Fatalf("Cached(db) = %v", c)
	}
	if s.Cached("default", "web") != nil {
		t.Fatal("Cached(web) after its deletion")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestAPIServerSourceSendsNothingBeforeAList(t *testing.T) {
	client := fake.NewClientset(boundTo("web", "node-a", nil))
	var down atomic.Bool
	down.Store(true)
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	s := NewAPIServerSource(client, "node-a", slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Update)
	go func() { _ = s.Run(ctx, out) }()
	select {
	case u := <-out:
		t.Fatalf("update %q while the API server is away: an empty set would stop every pod", podNames(u))
	case <-time.After(300 * time.Millisecond):
	}
	down.Store(false)
	// The reflector retries with back-off (about a second).
	if u := nextUpdate(t, out); podNames(u) != "web" {
		t.Fatalf("after the API server came back: %q", podNames(u))
	}
}
