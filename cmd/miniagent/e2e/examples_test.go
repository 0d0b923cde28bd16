package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestExamples applies every pod of examples/ (in file order, as scripts/run.sh
// does through the manifest directory) and checks that each does what
// examples/README.md promises. The daemon's node carries the label the
// node-affinity example needs.
func TestExamples(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(x.repo, "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/*.yaml (err %v)", err)
	}
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		apply(t, string(data))
		names = append(names, podNames(string(data))...)
	}
	if len(names) != len(files) {
		t.Fatalf("found %d pod names in %d files: %v", len(names), len(files), names)
	}

	for _, name := range names {
		pod := waitPod(t, name, 90*time.Second, "Running", phaseIs(v1.PodRunning))
		checkCondition(t, pod, v1.PodScheduled, v1.ConditionTrue, "")
	}

	ready := func(p *v1.Pod) bool {
		c := condition(p, v1.PodReady)
		return c != nil && c.Status == v1.ConditionTrue
	}
	web := waitPod(t, "readiness-example", 60*time.Second, "Ready (readiness probe)", ready)
	if cs := containerStatus(web, "readiness-container"); cs == nil || !cs.Ready {
		t.Errorf("readiness-container not ready: %+v", cs)
	}

	initPod := waitPod(t, "init-pod-example", 60*time.Second, "initialized", func(p *v1.Pod) bool {
		c := condition(p, v1.PodInitialized)
		return c != nil && c.Status == v1.ConditionTrue && running(p)
	})
	if cs := containerStatus(initPod, "init-myservice"); cs == nil || cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
		t.Errorf("init-myservice status %+v, want terminated Completed", cs)
	}
	if out := logs(t, "init-pod-example", "init-myservice"); !strings.Contains(out, "myservice is up") {
		t.Errorf("init-myservice logs %q, want 'myservice is up'", out)
	}

	// The startup probe passes only after the 15 s sleep; until then the
	// container runs but is not started and not ready.
	start := getPod(t, "startup-example")
	if cs := containerStatus(start, "startup-container"); cs != nil && cs.State.Running != nil &&
		time.Since(cs.State.Running.StartedAt.Time) < 10*time.Second {
		if cs.Started != nil && *cs.Started {
			t.Errorf("startup-container started=true %v after it began; its probe cannot pass before 15 s",
				time.Since(cs.State.Running.StartedAt.Time).Round(time.Second))
		}
	}
	waitPod(t, "startup-example", 60*time.Second, "started and Ready (startup probe)", func(p *v1.Pod) bool {
		cs := containerStatus(p, "startup-container")
		return cs != nil && cs.Started != nil && *cs.Started && ready(p)
	})

	for name, qos := range map[string]v1.PodQOSClass{
		"guaranteed-pod": v1.PodQOSGuaranteed,
		"burstable-pod":  v1.PodQOSBurstable,
		"besteffort-pod": v1.PodQOSBestEffort,
	} {
		if got := getPod(t, name).Status.QOSClass; got != qos {
			t.Errorf("%s qosClass %q, want %q", name, got, qos)
		}
	}
}
