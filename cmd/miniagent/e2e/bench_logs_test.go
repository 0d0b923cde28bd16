package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchLogPath measures what the log path of one container costs in
// each log mode while the container writes about 1 MB/s of 100-byte lines:
// CPU (% of one core) and RSS/PSS of the log process (process mode), of
// the agent (with the writer, and with an idle container for the
// difference), and of the shim, which in agent mode copies the output to
// the spool itself. It only runs with MINIAGENT_BENCH_LOGS=1:
//
//	MINIAGENT_E2E=1 MINIAGENT_BENCH_LOGS=1 go test -v -run TestBenchLogPath ./cmd/miniagent/e2e
func TestBenchLogPath(t *testing.T) {
	if os.Getenv("MINIAGENT_E2E") != "1" || os.Getenv("MINIAGENT_BENCH_LOGS") != "1" {
		t.Skip("benchmark: set MINIAGENT_E2E=1 MINIAGENT_BENCH_LOGS=1")
	}
	window := 20 * time.Second
	line := strings.Repeat("l", 99)
	writer := fmt.Sprintf(`while true; do yes %q | head -c 1048576; sleep 1; done`, line)
	for _, mode := range []string{"process", "agent"} {
		r := newRigArgs(t, false, "--container-log-mode", mode)
		for _, c := range []struct{ name, script string }{{"idle", "sleep 3600"}, {"writer", writer}} {
			manifest := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    command: [\"sh\", \"-c\", %q]\n", c.name, c.script)
			if err := r.applyManifest(c.name, manifest); err != nil {
				t.Fatal(err)
			}
			r.waitPhase(c.name, 60*time.Second, running)
			time.Sleep(3 * time.Second)
			var logProcs, shims []int
			for _, p := range processes() {
				if isLogProcess(p) && strings.Contains(strings.Join(p.argv, " "), r.logsDir) {
					logProcs = append(logProcs, p.pid)
				}
				if isShimOf(p, r.name) {
					shims = append(shims, p.pid)
				}
			}
			logSize := func() int64 {
				var n int64
				_ = filepath.Walk(r.logsDir, func(_ string, fi os.FileInfo, err error) error {
					if err == nil && fi.Mode().IsRegular() {
						n += fi.Size()
					}
					return nil
				})
				return n
			}
			agent := r.daemon.Process.Pid
			a0, l0, s0, b0 := cpuTicks(agent), sumTicks(logProcs), sumTicks(shims), logSize()
			time.Sleep(window)
			a1, l1, s1, b1 := cpuTicks(agent), sumTicks(logProcs), sumTicks(shims), logSize()
			pct := func(d int64) float64 { return float64(d) / 100 / window.Seconds() * 100 } // USER_HZ 100
			rss, pss := memKB(agent)
			t.Logf("%-7s %-6s: log file %.2f MB/s | agent CPU %.2f%% RSS %d kB PSS %d kB | shim CPU %.2f%% | log processes %d: CPU %.2f%% RSS %d kB PSS %d kB",
				mode, c.name, float64(b1-b0)/1e6/window.Seconds(), pct(a1-a0), rss, pss, pct(s1-s0),
				len(logProcs), pct(l1-l0), sumMem(logProcs, 0), sumMem(logProcs, 1))
		}
		if errs := r.deleteAll(); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
}

// cpuTicks is utime+stime of pid in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func sumTicks(pids []int) int64 {
	var n int64
	for _, p := range pids {
		n += cpuTicks(p)
	}
	return n
}

// memKB is Rss and Pss of pid from smaps_rollup, in kB.
func memKB(pid int) (rss, pss int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				rss = v
			case "Pss:":
				pss = v
			}
		}
	}
	return rss, pss
}

func sumMem(pids []int, which int) int64 {
	var n int64
	for _, p := range pids {
		r, s := memKB(p)
		n += []int64{r, s}[which]
	}
	return n
}
