package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// Tolerances for a start-to-start gap in a crash loop: the back-off runs
// from the exit (a few ms after the start here) and the worker needs a
// moment to act; a busy 2-core machine adds some: a cold CI run, load
// average 11-18 during these tests, once took 3.13 s for the immediate
// first restart (a task delete, create and start through runc).
const (
	gapEarly = 500 * time.Millisecond
	gapLate  = 5 * time.Second
)

// expectedGap is the back-off before start i+1 (1-based i): kubelet retries
// the first exit at once, then after 10 s, 20 s, 40 s ... capped at 5 min.
func expectedGap(i int) time.Duration {
	if i == 1 {
		return 0
	}
	d := 10 * time.Second << (i - 2)
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	return d
}

// TestFaultKillDuringCrashLoop: a container that exits 1 at once, in a pod
// with restartPolicy Always, records every start in a hostPath file. The
// daemon gets SIGKILL at a random moment of a back-off (after the 2nd or
// the 3rd start; up to just after the next start, so also while the agent
// restarts the container) and is started again at once. The restart count never
// goes down, and the starts keep the back-off schedule (0, 10 s, 20 s,
// 40 s between them): the agent does not restart the container as soon as
// it is back when the back-off has not expired. Finally restartCount is
// the number of starts minus one, and deleting the pod leaves nothing.
func TestFaultKillDuringCrashLoop(t *testing.T) {
	rounds, rng := faultTest(t)
	for round := 1; round <= rounds; round++ {
		k := 2 + rng.Intn(2)         // kill during the back-off after start k
		frac := 1.05 * rng.Float64() // up to just after the next start: a kill during the restart itself
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			t.Logf("round %d: SIGKILL %.0f%% into the %v back-off after start %d", round, 100*frac, expectedGap(k), k)
			killDuringCrashLoop(t, k, frac)
		})
	}
}

func killDuringCrashLoop(t *testing.T, k int, frac float64) {
	r := newRig(t, false)
	startsDir := filepath.Join(r.dir, "starts")
	startsFile := filepath.Join(startsDir, "log")
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: crashloop
spec:
  restartPolicy: Always
  volumes:
  - name: starts
    hostPath: {path: %s, type: DirectoryOrCreate}
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "cat /proc/uptime >> /starts/log; exit 1"]
    volumeMounts:
    - {name: starts, mountPath: /starts}
`, startsDir)
	if err := r.applyManifest("crashloop", manifest); err != nil {
		t.Fatal(err)
	}
	var maxRestarts int32 = -1
	var decreases []string
	observe := func() {
		pods, err := r.pods()
		if err != nil || pods["crashloop"] == nil {
			return
		}
		cs := containerStatus(pods["crashloop"], "main")
		if cs == nil {
			return
		}
		if cs.RestartCount < maxRestarts {
			decreases = append(decreases, fmt.Sprintf("%s restartCount %d after %d had been shown",
				time.Now().Format("15:04:05.000"), cs.RestartCount, maxRestarts))
		}
		if cs.RestartCount > maxRestarts {
			maxRestarts = cs.RestartCount
		}
	}
	// waitStarts observes the pod until the file holds n starts.
	waitStarts := func(n int, timeout time.Duration) []float64 {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			observe()
			starts := readStarts(startsFile)
			if len(starts) >= n {
				return starts
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d container starts after %v, want %d; starts (uptime s): %v\n%s", len(starts), timeout, n, starts, r.logTail(30))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	budget := func(from, to int) time.Duration { // time from start `from` to start `to`
		var d time.Duration
		for i := from; i < to; i++ {
			d += expectedGap(i) + gapLate
		}
		return d + 20*time.Second
	}
	starts := waitStarts(k, budget(1, k)+30*time.Second)
	sleep := time.Duration(frac*float64(expectedGap(k))) - time.Duration((uptime()-starts[k-1])*float64(time.Second))
	if sleep > 0 {
		time.Sleep(sleep)
	}
	observe()
	before := maxRestarts
	killUp := uptime()
	r.killDaemon()
	r.startDaemon()
	backUp := uptime()
	t.Logf("killed at +%.2fs after start %d (restartCount shown before: %d); API back %.2fs later",
		killUp-starts[k-1], k, before, backUp-killUp)
	waitStarts(k+2, budget(k, k+2))
	time.Sleep(time.Second)
	observe()
	starts = readStarts(startsFile)
	for _, d := range decreases {
		t.Errorf("restartCount went down: %s", d)
	}
	if maxRestarts < before {
		t.Errorf("restartCount after the restart at most %d, was %d before", maxRestarts, before)
	}
	for i := 1; i < len(starts); i++ {
		gap := time.Duration((starts[i] - starts[i-1]) * float64(time.Second))
		want := expectedGap(i)
		note := ""
		if starts[i-1] < killUp && starts[i] > killUp {
			note = fmt.Sprintf(" (the daemon was killed %.2fs into it and back %.2fs later)", killUp-starts[i-1], backUp-killUp)
		}
		if gap < want-gapEarly || gap > want+gapLate {
			t.Errorf("gap between start %d and %d: %.2fs, want %v (-%v/+%v)%s; load average now %s",
				i, i+1, gap.Seconds(), want, gapEarly, gapLate, note, loadavg())
		} else {
			t.Logf("gap between start %d and %d: %.2fs, want %v%s", i, i+1, gap.Seconds(), want, note)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pods, err := r.pods()
		var cs *v1.ContainerStatus
		if err == nil && pods["crashloop"] != nil {
			cs = containerStatus(pods["crashloop"], "main")
		}
		starts = readStarts(startsFile)
		if cs != nil && int(cs.RestartCount) == len(starts)-1 {
			break
		}
		if time.Now().After(deadline) {
			got := "no status"
			if cs != nil {
				got = fmt.Sprint(cs.RestartCount)
			}
			t.Errorf("restartCount %s after %d starts, want %d (list error %v)", got, len(starts), len(starts)-1, err)
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if _, err := r.cli("delete", "pod", "crashloop", "--grace-period", "0", "--wait=true"); err != nil {
		t.Error(err)
	}
	r.checkNoLeftovers("after deleting the pod")
	if t.Failed() {
		t.Log(r.logTail(40))
	}
}

// readStarts returns the uptimes (seconds) the container wrote at each start.
func readStarts(file string) []float64 {
	b, _ := os.ReadFile(file)
	var out []float64
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				out = append(out, v)
			}
		}
	}
	return out
}

// uptime is the host's /proc/uptime, the clock the container writes.
func uptime() float64 {
	s := readStarts("/proc/uptime")
	if len(s) == 0 {
		return 0
	}
	return s[0]
}
