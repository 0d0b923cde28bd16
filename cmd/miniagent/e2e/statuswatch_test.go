package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
)

// statusWatch follows one daemon's pod watch (GET /api/v1/pods?watch=true on
// its socket, as any Kubernetes client would) and checks every status it
// sees with checkTransition. When the stream ends (the daemon restarts, or
// drops a slow watcher) it reconnects; the first status after that is
// compared with the last one before.
//
// Violations are kept until a test takes them: the test that claimed the
// pod's name (claim, through apply and the other helpers that create pods)
// when it ends, or TestMain at the end of the run for the rest, so none is
// lost or goes to nobody.
type statusWatch struct {
	socket string
	hc     *http.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	last     map[types.UID]*v1.Pod // the last status seen of each pod
	deleted  map[types.UID]bool    // DELETED seen
	found    []*finding
	byRule   map[string]*finding // uid/container/rule -> first finding
	claims   map[string][]*claim // namespace/name -> tests that own that name
	statuses int                 // statuses of the watch checked
	gets     int                 // statuses fetched by tests checked
	connects int
}

// finding is one broken rule, with how often the same pod broke it again.
type finding struct {
	pod      string // namespace/name
	at       time.Time
	source   string // "watch" or "get": how the status was seen
	v        statusViolation
	repeats  int
	reported bool
}

func (f *finding) String() string {
	more := ""
	if f.repeats > 0 {
		more = fmt.Sprintf(" (and %d later statuses)", f.repeats)
	}
	return fmt.Sprintf("pod %s, %s at %s%s: %v", f.pod, f.source, f.at.Format("15:04:05.000"), more, f.v)
}

// claim: test owns the pod name from from until until (zero while it runs).
type claim struct {
	t           *testing.T
	from, until time.Time
}

func newStatusWatch(socket string) *statusWatch {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	ctx, cancel := context.WithCancel(context.Background())
	w := &statusWatch{
		socket: socket, hc: &http.Client{Transport: tr}, cancel: cancel, done: make(chan struct{}),
		last: map[types.UID]*v1.Pod{}, deleted: map[types.UID]bool{},
		byRule: map[string]*finding{}, claims: map[string][]*claim{},
	}
	go w.run(ctx)
	return w
}

// stop ends the watch and waits for it.
func (w *statusWatch) stop() {
	w.cancel()
	<-w.done
}

func (w *statusWatch) run(ctx context.Context) {
	defer close(w.done)
	for ctx.Err() == nil {
		_ = w.follow(ctx) // the daemon is down or restarting: try again
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// follow reads one watch stream until it ends.
func (w *statusWatch) follow(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://miniagent/api/v1/pods?watch=true", nil)
	if err != nil {
		return err
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("watch pods: %s", resp.Status)
	}
	w.mu.Lock()
	w.connects++
	w.mu.Unlock()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev struct {
			Type   string  `json:"type"`
			Object *v1.Pod `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		if ev.Object != nil {
			w.observe(ev.Type, ev.Object, time.Now())
		}
	}
}

// observe checks one status of the watch against the last one of the same pod.
func (w *statusWatch) observe(typ string, pod *v1.Pod, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.statuses++
	prev := w.last[pod.UID]
	w.last[pod.UID] = pod
	if typ == "DELETED" {
		w.deleted[pod.UID] = true
	}
	w.record(checkTransition(prev, pod), pod, "watch", at)
}

// observeGet checks a status a test fetched. Only on its own: a response
// and a watch event can reach the checker in either order.
func (w *statusWatch) observeGet(pod *v1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gets++
	w.record(checkTransition(nil, pod), pod, "get", time.Now())
}

func (w *statusWatch) record(err error, pod *v1.Pod, source string, at time.Time) {
	var vs statusViolations
	if !errors.As(err, &vs) {
		return
	}
	key := pod.Namespace + "/" + pod.Name
	for _, v := range vs {
		id := string(pod.UID) + "/" + v.Container + "/" + v.Rule
		if f := w.byRule[id]; f != nil {
			f.repeats++
			continue
		}
		f := &finding{pod: key, at: at, source: source, v: v}
		w.byRule[id] = f
		w.found = append(w.found, f)
	}
}

// claim makes t the owner of pod namespace/name until t ends.
func (w *statusWatch) claim(t *testing.T, key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.claims[key] {
		if c.t == t && c.until.IsZero() {
			return
		}
	}
	w.claims[key] = append(w.claims[key], &claim{t: t, from: time.Now()})
}

// finishTest ends t's claims and fails t with what was found for its pods
// meanwhile. It first lets the watch catch up with the API.
func (w *statusWatch) finishTest(t *testing.T) {
	t.Helper()
	for _, key := range w.claimed(t) {
		w.catchUp(key, 5*time.Second)
	}
	for _, f := range w.take(t, time.Now()) {
		t.Errorf("status breaks kubelet's rules: %v", f)
	}
}

// claimed returns the pod names t owns now.
func (w *statusWatch) claimed(t *testing.T) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var keys []string
	for key, cs := range w.claims {
		for _, c := range cs {
			if c.t == t && c.until.IsZero() {
				keys = append(keys, key)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// take ends t's claims at now and returns, marked reported, what was found
// for its pods while it owned them.
func (w *statusWatch) take(t *testing.T, now time.Time) []*finding {
	w.mu.Lock()
	defer w.mu.Unlock()
	var mine []*finding
	for key, cs := range w.claims {
		for _, c := range cs {
			if c.t != t || !c.until.IsZero() {
				continue
			}
			c.until = now
			for _, f := range w.found {
				if f.pod == key && !f.reported && !f.at.Before(c.from) {
					f.reported = true
					mine = append(mine, f)
				}
			}
		}
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].at.Before(mine[j].at) })
	return mine
}

// catchUp waits (at most timeout) until the watch has seen the status the
// API shows now for the pod, or its deletion.
func (w *statusWatch) catchUp(key string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pod, err := w.get(key)
		if err == nil && w.caughtUp(key, pod) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *statusWatch) caughtUp(key string, now *v1.Pod) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now != nil {
		last := w.last[now.UID]
		return last != nil && apiequality.Semantic.DeepEqual(last.Status, now.Status)
	}
	for uid, p := range w.last { // gone: wait for the DELETED of what we saw
		if p.Namespace+"/"+p.Name == key && !w.deleted[uid] {
			return false
		}
	}
	return true
}

// get returns the pod namespace/name from the API, nil if there is none.
func (w *statusWatch) get(key string) (*v1.Pod, error) {
	ns, name, _ := strings.Cut(key, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "http://miniagent/api/v1/namespaces/" + url.PathEscape(ns) + "/pods/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, nil
	case http.StatusOK:
		var pod v1.Pod
		return &pod, json.NewDecoder(resp.Body).Decode(&pod)
	}
	return nil, fmt.Errorf("get pod %s: %s", key, resp.Status)
}

// unreported returns what no test took, each with the test that last
// claimed the pod's name, and marks it reported.
func (w *statusWatch) unreported() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, f := range w.found {
		if f.reported {
			continue
		}
		f.reported = true
		owner := "no test claimed the pod"
		for _, c := range w.claims[f.pod] {
			switch {
			case !f.at.Before(c.from):
				owner = fmt.Sprintf("claimed by %s, seen after it ended", c.t.Name())
			case owner == "no test claimed the pod":
				owner = "seen before any test claimed the pod"
			}
		}
		out = append(out, fmt.Sprintf("%s [%s]", f, owner))
	}
	return out
}

func (w *statusWatch) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("%d watched statuses of %d pods (%d watch connections) and %d fetched statuses checked, %d rule(s) broken",
		w.statuses, len(w.last), w.connects, w.gets, len(w.found))
}

// checks follows the shared daemon for the whole run (nil when the e2e tests
// are off or the set-up failed).
var checks *statusWatch

// startChecks starts checks once the shared daemon answers.
func startChecks(x *harness) {
	checks = newStatusWatch(x.socket)
}

// finishChecks stops checks after the teardown and returns what no test
// reported; it prints the summary.
func finishChecks() []string {
	if checks == nil {
		return nil
	}
	checks.stop()
	fmt.Fprintf(os.Stderr, "e2e: status checker: %s\n", checks.summary())
	return checks.unreported()
}

// watchTest makes t fail, when it ends, with the violations of the pods it
// claims. e2e(t) calls it; only the first call per test registers.
func watchTest(t *testing.T) {
	if checks == nil {
		return
	}
	watchedMu.Lock()
	defer watchedMu.Unlock()
	if watched[t] {
		return
	}
	watched[t] = true
	// Registered by the test's first e2e(t), so it runs after every other
	// cleanup of the test, the pod deletions included.
	t.Cleanup(func() {
		checks.finishTest(t)
		watchedMu.Lock()
		delete(watched, t)
		watchedMu.Unlock()
	})
}

var (
	watchedMu sync.Mutex
	watched   = map[*testing.T]bool{}
)

// claimPod makes t the owner of the pod name (namespace default) for the checker.
func claimPod(t *testing.T, name string) {
	if checks != nil {
		checks.claim(t, "default/"+name)
	}
}

// watchOwnDaemon checks every status of a daemon a test starts itself (its
// own socket): all its pods belong to t. Call it before registering the
// cleanup that stops that daemon, so the watch outlives its pods.
func watchOwnDaemon(t *testing.T, socket string) {
	w := newStatusWatch(socket)
	t.Cleanup(func() {
		w.stop()
		for _, f := range w.found {
			t.Errorf("status breaks kubelet's rules (daemon at %s): %v", socket, f)
		}
	})
}
