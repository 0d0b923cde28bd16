package e2e

import (
	"fmt"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
)

// podWatch polls a rig's pod list until a condition holds and remembers
// every pod it ever saw in phase Failed (a terminal phase: a pod that was
// Failed once must never have been).
type podWatch struct {
	r      *rig
	failed map[string]string // pod name -> the first Failed state seen
	last   map[string]*v1.Pod
	err    error // last list error
}

func newPodWatch(r *rig) *podWatch { return &podWatch{r: r, failed: map[string]string{}} }

// poll lists the pods once.
func (w *podWatch) poll() map[string]*v1.Pod {
	pods, err := w.r.pods()
	if err != nil {
		w.err = err
		return nil
	}
	w.err, w.last = nil, pods
	for name, p := range pods {
		if p.Status.Phase == v1.PodFailed && w.failed[name] == "" {
			w.failed[name] = fmt.Sprintf("%s (seen at %s)", podLine(p), time.Now().Format("15:04:05.000"))
		}
	}
	return pods
}

// until polls every 300 ms until done(pods) holds or timeout passes; it
// reports whether done held.
func (w *podWatch) until(timeout time.Duration, done func(map[string]*v1.Pod) bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if pods := w.poll(); pods != nil && done(pods) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// failedLines lists the pods seen Failed, sorted.
func (w *podWatch) failedLines() []string {
	var out []string
	for _, s := range w.failed {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// allRunning is a done func: every named pod exists and runs.
func allRunning(names []string) func(map[string]*v1.Pod) bool {
	return func(pods map[string]*v1.Pod) bool {
		for _, n := range names {
			if p := pods[n]; p == nil || !running(p) {
				return false
			}
		}
		return true
	}
}

// allGone is a done func: none of the named pods is listed.
func allGone(names []string) func(map[string]*v1.Pod) bool {
	return func(pods map[string]*v1.Pod) bool {
		for _, n := range names {
			if pods[n] != nil {
				return false
			}
		}
		return true
	}
}

// sortedNames returns the names of the set's true entries, sorted.
func sortedNames(set map[string]bool) []string {
	var out []string
	for n, ok := range set {
		if ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
