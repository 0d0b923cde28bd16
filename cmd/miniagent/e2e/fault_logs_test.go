package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// TestFaultLogsAcrossAgentKills: a container prints numbered lines on
// stdout and stderr without pause while the agent is SIGKILLed and
// restarted several times, and finally exits while the agent is down.
// Its log must hold every number of both streams (duplicates are counted
// and reported, gaps fail), the log must grow while a restarted agent
// runs, and deleting the pod must leave no spool,
// no open file and no log goroutine behind. Both log modes run.
func TestFaultLogsAcrossAgentKills(t *testing.T) {
	rounds, rng := faultTest(t)
	for _, mode := range []string{"agent", "process"} {
		t.Run(mode, func(t *testing.T) {
			r := newRigArgs(t, false, "--container-log-mode", mode)
			ctl := filepath.Join(r.dir, "ctl")
			if err := os.MkdirAll(ctl, 0o755); err != nil {
				t.Fatal(err)
			}
			pad := strings.Repeat("x", 100)
			script := fmt.Sprintf(`i=0; while [ ! -e /ctl/stop ]; do i=$((i+1)); echo "out $i %s"; echo "err $i %s" >&2; [ $((i %% 20)) -eq 0 ] && sleep 0.02; done; echo "last $i"; echo "last $i" >&2`, pad, pad)
			manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: numbered}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes: [{name: ctl, hostPath: {path: %s}}]
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
    volumeMounts: [{name: ctl, mountPath: /ctl}]
`, ctl, script)
			if err := r.applyManifest("numbered", manifest); err != nil {
				t.Fatal(err)
			}
			r.waitPhase("numbered", 60*time.Second, func(p *v1.Pod) bool { return running(p) })
			for i := 0; i < rounds+2; i++ {
				time.Sleep(randDelay(rng, 500*time.Millisecond, 2*time.Second))
				r.killDaemon()
				time.Sleep(randDelay(rng, 200*time.Millisecond, 1500*time.Millisecond)) // a backlog builds up
				r.startDaemon()
			}
			// The restarted agent follows the output again: the log grows
			// while it runs (in agent mode it is what writes the log).
			grew := false
			before := r.highestNumbered("numbered", "out")
			for deadline := time.Now().Add(10 * time.Second); !grew && time.Now().Before(deadline); {
				time.Sleep(200 * time.Millisecond)
				grew = r.highestNumbered("numbered", "out") > before
			}
			if !grew {
				t.Errorf("%s mode: the log stays at line %d while the container writes and the agent runs", mode, before)
			}
			// The last kill: the container exits while nobody reads its output.
			time.Sleep(time.Second)
			r.killDaemon()
			if err := os.WriteFile(filepath.Join(ctl, "stop"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			r.startDaemon()
			r.waitPhase("numbered", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })

			out, err := r.cli("logs", "numbered")
			if err != nil {
				t.Fatal(err)
			}
			for _, stream := range []string{"out", "err"} {
				last, dups, gaps := numberedLines(out, stream)
				t.Logf("%s mode, %s: %d numbered lines, %d duplicated, %d missing", mode, stream, last, dups, len(gaps))
				if last == 0 {
					t.Fatalf("%s: no \"last N\" line; log ends with:\n%s", stream, tail(out, 5))
				}
				if len(gaps) > 0 {
					t.Errorf("%s: %d numbers missing, first %v", stream, len(gaps), gaps[:min(len(gaps), 10)])
				}
			}
			if errs := r.deleteAll(); len(errs) > 0 {
				t.Fatalf("delete: %v", errs)
			}
			r.checkNoLeftovers("after the pod was deleted")
			if r.goroutinesMatch("crilog.(*stream).drainWhileWoken") {
				t.Errorf("a log stream's drain is still running after the pod was deleted")
			}
			if fds := r.daemonFDsUnder(r.rootDir, r.logsDir); len(fds) > 0 {
				t.Errorf("daemon still has files open: %v", fds)
			}
		})
	}
}

// numberedLines checks the "<stream> N ..." lines of out against the
// "last N" line of that stream: the highest number, how many lines were
// repeated and which numbers are missing.
func numberedLines(out, stream string) (last, dups int, gaps []int) {
	seen := map[int]int{}
	re := regexp.MustCompile(`^` + stream + ` (\d+) x+$`)
	lastRe := regexp.MustCompile(`^last (\d+)$`)
	lasts := 0
	for _, l := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			seen[n]++
		} else if m := lastRe.FindStringSubmatch(l); m != nil {
			lasts++
			last, _ = strconv.Atoi(m[1])
		}
	}
	if lasts != 2 { // once per stream
		return 0, 0, nil
	}
	for n := 1; n <= last; n++ {
		switch c := seen[n]; {
		case c == 0:
			gaps = append(gaps, n)
		case c > 1:
			dups += c - 1
		}
	}
	return last, dups, gaps
}

// highestNumbered is the highest line number of stream in pod's log so
// far (0: none, or the log could not be read).
func (r *rig) highestNumbered(pod, stream string) int {
	out, err := r.cli("logs", pod)
	if err != nil {
		return 0
	}
	re := regexp.MustCompile(`^` + stream + ` (\d+) x+$`)
	high := 0
	for _, l := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			if n, _ := strconv.Atoi(m[1]); n > high {
				high = n
			}
		}
	}
	return high
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// waitPhase polls the pod until cond holds.
func (r *rig) waitPhase(name string, timeout time.Duration, cond func(*v1.Pod) bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pods, err := r.pods()
		if err == nil && pods[name] != nil && cond(pods[name]) {
			return
		}
		if time.Now().After(deadline) {
			line := "not listed"
			if p := pods[name]; p != nil {
				line = podLine(p)
			}
			r.t.Fatalf("pod %s: condition not met within %v (%v): %s\n%s", name, timeout, err, line, r.logTail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// goroutinesMatch tells whether the daemon's goroutine profile names fn.
func (r *rig) goroutinesMatch(fn string) bool {
	r.t.Helper()
	c := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", r.socket)
		}}}
	resp, err := c.Get("http://agent/debug/goroutines?debug=1")
	if err != nil {
		r.t.Fatalf("goroutine profile: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), fn)
}

// daemonFDsUnder lists the daemon's open files below any of dirs.
func (r *rig) daemonFDsUnder(dirs ...string) []string {
	if r.daemon == nil {
		return nil
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", r.daemon.Process.Pid)
	ents, _ := os.ReadDir(fdDir)
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue
		}
		for _, d := range dirs {
			if strings.HasPrefix(target, d+"/") {
				out = append(out, target)
			}
		}
	}
	return out
}
