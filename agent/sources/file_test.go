package sources

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	testingclock "k8s.io/utils/clock/testing"
)

func init() {
	debounceDelay = 20 * time.Millisecond
	resyncInterval = time.Hour // changes must arrive through fsnotify
}

func manifest(name, image string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: c\n    image: %s\n", name, image)
}

// write replaces dir/file atomically (a hidden temporary file, which the
// source ignores, renamed over it): an in-place write could be read half
// done by a source whose debounce ran out on a loaded machine.
func write(t *testing.T, dir, file, content string) {
	t.Helper()
	tmp := filepath.Join(dir, ".tmp-"+file)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, file)); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log sink safe for the source goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	t    *testing.T
	dir  string
	logs *syncBuffer
	ch   chan Update
	last map[string]*v1.Pod
	done chan error
}

func start(t *testing.T, setup func(dir string)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), logs: &syncBuffer{}, ch: make(chan Update), done: make(chan error, 1)}
	if setup != nil {
		setup(h.dir)
	}
	src := NewFileSource(h.dir, "Node1", slog.New(slog.NewTextHandler(h.logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.done <- src.Run(ctx, h.ch) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return h
}

// next waits for the next update and returns its pods by name.
func (h *harness) next() map[string]*v1.Pod {
	h.t.Helper()
	select {
	case u := <-h.ch:
		if u.Source != "file" {
			h.t.Errorf("source = %q", u.Source)
		}
		m := map[string]*v1.Pod{}
		for _, p := range u.Pods {
			m[p.Name] = p
		}
		h.last = m
		return m
	case <-time.After(5 * time.Second):
		h.t.Fatalf("no update; logs:\n%s", h.logs)
		return nil
	}
}

func (h *harness) noUpdate() {
	h.t.Helper()
	select {
	case u := <-h.ch:
		h.t.Fatalf("unexpected update with %d pods", len(u.Pods))
	case <-time.After(300 * time.Millisecond):
	}
}

func names(m map[string]*v1.Pod) string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

func TestFileSourceInitialSetAndStaticPodIdentity(t *testing.T) {
	h := start(t, func(dir string) {
		write(t, dir, "a.yaml", manifest("web", "nginx"))
		write(t, dir, "b.yml", manifest("db", "postgres:16")+"---\n"+manifest("cache", "redis"))
		write(t, dir, "c.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j","namespace":"kube-system"},"spec":{"containers":[{"name":"c","image":"x"}]}}`)
		write(t, dir, ".hidden.yaml", manifest("hidden", "x"))
		write(t, dir, "notes.txt", manifest("txt", "x"))
		write(t, dir, "a.yaml~", manifest("backup", "x"))
	})
	pods := h.next()
	if got := names(pods); got != "cache-node1,db-node1,j-node1,web-node1" {
		t.Fatalf("pods = %s", got)
	}
	web := pods["web-node1"]
	if web.Namespace != "default" || pods["j-node1"].Namespace != "kube-system" {
		t.Errorf("namespaces: %q %q", web.Namespace, pods["j-node1"].Namespace)
	}
	if len(web.UID) != 32 || web.Annotations[ConfigHashAnnotation] != string(web.UID) {
		t.Errorf("uid %q hash annotation %q", web.UID, web.Annotations[ConfigHashAnnotation])
	}
	if web.Annotations[ConfigSourceAnnotation] != "file" {
		t.Errorf("source annotation %q", web.Annotations[ConfigSourceAnnotation])
	}
	if _, err := time.Parse(time.RFC3339, web.Annotations[ConfigSeenAnnotation]); err != nil {
		t.Errorf("seen annotation: %v", err)
	}
	if web.Spec.NodeName != "node1" || web.Spec.RestartPolicy != v1.RestartPolicyAlways || web.Spec.Containers[0].ImagePullPolicy != v1.PullAlways {
		t.Errorf("defaults missing: %+v", web.Spec)
	}
	if n := len(web.Spec.Tolerations); n != 1 || web.Spec.Tolerations[0].Effect != v1.TaintEffectNoExecute {
		t.Errorf("tolerations = %+v", web.Spec.Tolerations)
	}
	if pods["db-node1"].UID == pods["cache-node1"].UID {
		t.Errorf("pods of one file share a UID")
	}
}

func TestFileSourceChanges(t *testing.T) {
	h := start(t, func(dir string) {
		write(t, dir, "a.yaml", manifest("web", "nginx"))
	})
	first := h.next()
	web := first["web-node1"]

	write(t, h.dir, "b.yaml", manifest("db", "postgres"))
	added := h.next()
	if names(added) != "db-node1,web-node1" || web == nil {
		t.Fatalf("after add: %s (first: %s)", names(added), names(first))
	}
	if added["web-node1"].UID != web.UID || added["web-node1"].Annotations[ConfigSeenAnnotation] != web.Annotations[ConfigSeenAnnotation] {
		t.Errorf("unchanged pod changed identity")
	}

	write(t, h.dir, "a.yaml", manifest("web", "nginx:1.25"))
	changed := h.next()
	if names(changed) != "db-node1,web-node1" {
		t.Fatalf("after change: %s", names(changed))
	}
	if changed["web-node1"].UID == web.UID {
		t.Errorf("changed pod kept UID %s", web.UID)
	}
	if changed["db-node1"].UID != added["db-node1"].UID {
		t.Errorf("other file's pod changed UID")
	}

	// Writing identical content sends nothing: the set did not change.
	write(t, h.dir, "b.yaml", manifest("db", "postgres"))
	h.noUpdate()

	if err := os.Remove(filepath.Join(h.dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	if got := names(h.next()); got != "web-node1" {
		t.Errorf("after remove: %s", got)
	}
}

func TestFileSourceBadFileIgnored(t *testing.T) {
	h := start(t, func(dir string) {
		write(t, dir, "a.yaml", manifest("web", "nginx"))
		write(t, dir, "b.yaml", manifest("db", "postgres"))
		write(t, dir, "bad.yaml", strings.Replace(manifest("bad", "x"), "image:", "imagee:", 1))
	})
	if got := names(h.next()); got != "db-node1,web-node1" {
		t.Fatalf("initial: %s", got)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "bad.yaml") || !strings.Contains(logs, `spec.containers[0].imagee`) {
		t.Errorf("bad file not logged with file and field:\n%s", logs)
	}

	// A good file turning invalid loses its pods; the others stay.
	write(t, h.dir, "b.yaml", strings.Replace(manifest("db", "postgres"), "image: postgres", "image: \"\"", 1))
	if got := names(h.next()); got != "web-node1" {
		t.Errorf("after breaking b.yaml: %s", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "spec.containers[0].image: Required value") {
		t.Errorf("validation error not logged:\n%s", logs)
	}

	// Fixing it brings the pod back.
	write(t, h.dir, "b.yaml", manifest("db", "postgres"))
	if got := names(h.next()); got != "db-node1,web-node1" {
		t.Errorf("after fixing b.yaml: %s", got)
	}
}

func TestFileSourceRename(t *testing.T) {
	h := start(t, func(dir string) {
		write(t, dir, "a.yaml", manifest("web", "nginx"))
	})
	before := h.next()["web-node1"]

	if err := os.Rename(filepath.Join(h.dir, "a.yaml"), filepath.Join(h.dir, "z.yaml")); err != nil {
		t.Fatal(err)
	}
	after := h.next()["web-node1"]
	if after == nil || after.UID == before.UID {
		t.Fatalf("rename: pod %v, want same name with a new UID (the path is part of the hash)", after)
	}

	if err := os.Rename(filepath.Join(h.dir, "z.yaml"), filepath.Join(h.dir, ".z.yaml")); err != nil {
		t.Fatal(err)
	}
	if got := names(h.next()); got != "" {
		t.Errorf("after hiding the file: %s", got)
	}
}

func TestFileSourceDuplicateNames(t *testing.T) {
	h := start(t, func(dir string) {
		write(t, dir, "b.yaml", manifest("web", "second"))
		write(t, dir, "a.yaml", manifest("web", "first"))
	})
	pods := h.next()
	if len(pods) != 1 || pods["web-node1"].Spec.Containers[0].Image != "first" {
		t.Fatalf("pods = %v", pods)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "b.yaml") || !strings.Contains(logs, "already defined in") {
		t.Errorf("duplicate not logged:\n%s", logs)
	}
	// Removing the winner lets the other file's pod in.
	if err := os.Remove(filepath.Join(h.dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	if p := h.next()["web-node1"]; p == nil || p.Spec.Containers[0].Image != "second" {
		t.Errorf("after removing a.yaml: %v", p)
	}
}

func TestFileSourceMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	logs := &syncBuffer{}
	src := NewFileSource(dir, "n", slog.New(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan Update, 1)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, ch) }()
	select {
	case u := <-ch:
		if len(u.Pods) != 0 {
			t.Errorf("pods from a missing directory: %d", len(u.Pods))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no initial update for a missing directory")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if !strings.Contains(logs.String(), "later") {
		t.Errorf("missing directory not logged:\n%s", logs)
	}
}

func TestFileSourceSingleFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "pod.yaml", manifest("one", "x"))
	write(t, dir, "other.yaml", manifest("two", "x"))
	src := NewFileSource(filepath.Join(dir, "pod.yaml"), "n", slog.New(slog.NewTextHandler(&syncBuffer{}, nil)))
	pods := src.Scan()
	if len(pods) != 1 || pods[0].Name != "one-n" {
		t.Fatalf("pods = %v", pods)
	}
}

func TestFileSourceResyncPicksUpLateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "manifests")
	src := NewFileSource(dir, "n", slog.New(slog.NewTextHandler(&syncBuffer{}, nil)))
	fake := testingclock.NewFakeClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	src.clock = fake
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan Update)
	go func() { _ = src.Run(ctx, ch) }()
	if u := <-ch; len(u.Pods) != 0 {
		t.Fatalf("initial pods: %d", len(u.Pods))
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.yaml", manifest("late", "x"))
	for !fake.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	fake.Step(resyncInterval)
	select {
	case u := <-ch:
		if len(u.Pods) != 1 || u.Pods[0].Name != "late-n" {
			t.Fatalf("pods after resync: %v", u.Pods)
		}
		if got := u.Pods[0].Annotations[ConfigSeenAnnotation]; got != "2025-01-02T04:04:05Z" {
			t.Errorf("config.seen = %q, want the fake clock's time", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("resync did not pick up the new directory")
	}
	// The directory is watched now: a further change arrives without a resync.
	write(t, dir, "b.yaml", manifest("second", "x"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		fake.Step(debounceDelay) // fires the debounce timer once the event is in
		select {
		case u := <-ch:
			if len(u.Pods) != 2 {
				t.Fatalf("pods after change: %d", len(u.Pods))
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("change in the late directory not seen")
		}
	}
}
