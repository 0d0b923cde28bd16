package e2e

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/runtime"
)

// Fault tests kill the daemon (or containerd) at random moments and check
// what a user relies on afterwards. They run only when selected by name
// (-run TestFault...) or with MINIAGENT_E2E_FAULT=1, as they take minutes.
//
//	MINIAGENT_FAULT_ROUNDS  rounds per test (default 3)
//	MINIAGENT_FAULT_SEED    seed of the random delays (default: the clock)

// faultOnlyRun reports whether the -run pattern selects fault tests only:
// every |-alternative starts with TestFault. Then TestMain does not set up
// the shared harness (nor take its host-wide lock).
func faultOnlyRun() bool {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return false
	}
	for _, alt := range topLevelAlternatives(f.Value.String()) {
		if !strings.HasPrefix(strings.TrimPrefix(alt, "^"), "TestFault") {
			return false
		}
	}
	return true
}

// topLevelAlternatives splits a regexp at the | outside parentheses and
// brackets: "TestFault(A|B)|TestFaultC" is "TestFault(A|B)", "TestFaultC".
func topLevelAlternatives(re string) []string {
	var out []string
	depth, start, class := 0, 0, false
	for i := 0; i < len(re); i++ {
		switch c := re[i]; {
		case c == '\\':
			i++
		case class:
			class = c != ']'
		case c == '[':
			class = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			out = append(out, re[start:i])
			start = i + 1
		}
	}
	return append(out, re[start:])
}

// faultTest skips unless fault tests are enabled and returns the number of
// rounds and the random source, logging the seed.
func faultTest(t *testing.T) (int, *rand.Rand) {
	t.Helper()
	if os.Getenv("MINIAGENT_E2E") != "1" {
		t.Skip("end-to-end test: set MINIAGENT_E2E=1 (needs root and containerd)")
	}
	f := flag.Lookup("test.run")
	if os.Getenv("MINIAGENT_E2E_FAULT") != "1" && (f == nil || !strings.Contains(f.Value.String(), "TestFault")) {
		t.Skip("fault-injection test: select it with -run TestFault or set MINIAGENT_E2E_FAULT=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end tests need root")
	}
	rounds := 3
	if s := os.Getenv("MINIAGENT_FAULT_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("MINIAGENT_FAULT_ROUNDS=%q: want a positive number", s)
		}
		rounds = n
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("MINIAGENT_FAULT_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("MINIAGENT_FAULT_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (MINIAGENT_FAULT_SEED=%d reproduces the delays), %d rounds", seed, seed, rounds)
	return rounds, rand.New(rand.NewSource(seed))
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute averages: timing checks
// are read against it (this 2-core VM is shared with other jobs).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// randDelay is a uniformly random duration in [lo, hi).
func randDelay(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int63n(int64(hi-lo)))
}

// paced runs do(i) for i in [0, n), starting one every pace, each in its own
// goroutine, until stop is closed. After every started call has returned it
// returns each started call's error (nil: acknowledged).
func paced(n int, pace time.Duration, stop <-chan struct{}, do func(i int) error) map[int]error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	res := map[int]error{}
	tick := time.NewTicker(pace)
	defer tick.Stop()
loop:
	for i := 0; i < n; i++ {
		select {
		case <-stop:
			break loop
		default:
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := do(i)
			mu.Lock()
			res[i] = err
			mu.Unlock()
		}(i)
		select {
		case <-stop:
			break loop
		case <-tick.C:
		}
	}
	wg.Wait()
	return res
}

// ackedOf splits paced's results into the acknowledged names and a summary
// of the rest (how many were started, and the first error).
func ackedOf(res map[int]error, names []string) (map[string]bool, string) {
	acked := map[string]bool{}
	var firstErr error
	failed := 0
	for i := range names {
		err, started := res[i]
		switch {
		case started && err == nil:
			acked[names[i]] = true
		case started:
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	sum := fmt.Sprintf("%d started, %d acknowledged, %d failed, %d never sent", len(res), len(acked), failed, len(names)-len(res))
	if firstErr != nil {
		sum += fmt.Sprintf("; first failure: %v", strings.TrimSpace(firstErr.Error()))
	}
	return acked, sum
}

// ctrInstance is one containerd container of a pod and its task.
type ctrInstance struct {
	ID, PodUID, PodName, Container, Attempt string
	Task                                    string // task status, "" = no task
}

// instancesOf lists the containers of namespace ns that carry miniagent's
// pod labels, with their task's status.
func instancesOf(addr, ns string) ([]ctrInstance, error) {
	c, err := client.New(addr, client.WithTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 30*time.Second)
	defer cancel()
	list, err := c.Containers(ctx)
	if err != nil {
		return nil, err
	}
	var out []ctrInstance
	for _, ctr := range list {
		info, err := ctr.Info(ctx)
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile
		} else if err != nil {
			return nil, err
		}
		in := ctrInstance{ID: ctr.ID(), PodUID: info.Labels[runtime.LabelPodUID], PodName: info.Labels[runtime.LabelPodName],
			Container: info.Labels[runtime.LabelContainerName], Attempt: info.Labels[runtime.LabelAttempt]}
		if task, err := ctr.Task(ctx, nil); err == nil {
			if st, err := task.Status(ctx); err == nil {
				in.Task = string(st.Status)
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// checkOneInstance returns a problem line per pod (of the names given)
// that does not have exactly one containerd container, with a running
// task, for each of its containers, and per container labelled with the
// pod's name but another UID.
func checkOneInstance(insts []ctrInstance, pods map[string]*v1.Pod, names []string) []string {
	var out []string
	for _, name := range names {
		pod := pods[name]
		if pod == nil {
			continue
		}
		for _, c := range pod.Spec.Containers {
			var mine []string
			running := 0
			for _, in := range insts {
				if in.PodUID == string(pod.UID) && in.Container == c.Name {
					mine = append(mine, fmt.Sprintf("%s(attempt %s, task %q)", short(in.ID), in.Attempt, in.Task))
					if in.Task == string(client.Running) {
						running++
					}
				}
			}
			if len(mine) != 1 || running != 1 {
				out = append(out, fmt.Sprintf("pod %s container %s: %d containerd containers, %d running task(s), want 1 and 1: %v",
					name, c.Name, len(mine), running, mine))
			}
		}
		for _, in := range insts {
			if in.PodName == name && in.PodUID != string(pod.UID) {
				out = append(out, fmt.Sprintf("pod %s: containerd container %s of another pod UID %s (the pod's is %s), task %q",
					name, short(in.ID), in.PodUID, pod.UID, in.Task))
			}
		}
	}
	return out
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// describePods is one line per pod: name, phase, reason and each
// container's state and restart count.
func describePods(pods map[string]*v1.Pod) string {
	var names []string
	for n := range pods {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "\n  %s", podLine(pods[n]))
	}
	return b.String()
}

func podLine(p *v1.Pod) string {
	s := fmt.Sprintf("%s: %s", p.Name, p.Status.Phase)
	if p.DeletionTimestamp != nil {
		s += " (deleting since " + p.DeletionTimestamp.Format("15:04:05") + ")"
	}
	if p.Status.Reason != "" {
		s += fmt.Sprintf(" (%s: %s)", p.Status.Reason, p.Status.Message)
	}
	for _, cs := range p.Status.ContainerStatuses {
		st := "unknown"
		switch {
		case cs.State.Running != nil:
			st = "running"
		case cs.State.Waiting != nil:
			st = "waiting " + cs.State.Waiting.Reason + " " + cs.State.Waiting.Message
		case cs.State.Terminated != nil:
			st = fmt.Sprintf("terminated %s exit %d %s", cs.State.Terminated.Reason, cs.State.Terminated.ExitCode, cs.State.Terminated.Message)
		}
		s += fmt.Sprintf("; %s %s restarts %d", cs.Name, strings.TrimSpace(st), cs.RestartCount)
	}
	return s
}

// purgeNamespace removes everything namespace ns holds in containerd at
// addr (tasks, containers, snapshots, images, leases, content, the
// namespace) and unmounts the netns/ipc paths the containers named.
func purgeNamespace(addr, ns string) error {
	c, err := client.New(addr, client.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 2*time.Minute)
	defer cancel()
	var errs []string
	note := func(what string, err error) {
		if err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Sprintf("%s: %v", what, err))
		}
	}
	list, err := c.Containers(ctx)
	note("list containers", err)
	for _, ctr := range list {
		if spec, err := ctr.Spec(ctx); err == nil && spec.Linux != nil {
			for _, n := range spec.Linux.Namespaces {
				if n.Path != "" && (n.Type == "network" || n.Type == "ipc") {
					defer unmountAndRemove(n.Path)
				}
			}
		}
		if task, err := ctr.Task(ctx, nil); err == nil {
			_ = task.Kill(ctx, syscall.SIGKILL)
			_, err := task.Delete(ctx, client.WithProcessKill)
			note("delete task "+ctr.ID(), err)
		}
		note("delete container "+ctr.ID(), ctr.Delete(ctx, client.WithSnapshotCleanup))
	}
	removeAllSnapshots(ctx, c.SnapshotService(snapshotter))
	imgs, err := c.ImageService().List(ctx)
	note("list images", err)
	for _, img := range imgs {
		note("delete image "+img.Name, c.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()))
	}
	if ls, err := c.LeasesService().List(ctx); err == nil {
		for _, l := range ls {
			note("delete lease "+l.ID, c.LeasesService().Delete(ctx, l))
		}
	}
	cs := c.ContentStore()
	_ = cs.Walk(ctx, func(info content.Info) error {
		note("delete content "+info.Digest.String(), cs.Delete(ctx, info.Digest))
		return nil
	})
	note("delete namespace", c.NamespaceService().Delete(ctx, ns))
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
