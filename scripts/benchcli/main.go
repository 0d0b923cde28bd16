// Command benchcli times whole commands as a user types them: each case is
// one or more programs run one after another (`a && b`), started with exec
// (no shell in between), timed from the first start to the last exit. The
// cases run interleaved, round by round, each round starting with the next
// case, so a load change on a shared machine hits them all alike. After
// each timed run a case's clean-up command runs untimed.
//
//	benchcli --runs 30 \
//	  --case 'miniagent=bin/miniagent apply -f pod.yaml && bin/miniagent wait --for=condition=Ready pod/bench-{i}' \
//	  --cleanup 'miniagent=bin/miniagent delete pod bench-{i} --grace-period 0' \
//	  --case 'ctr=ctr run -d docker.io/library/busybox:latest bench-{i} sleep 600' \
//	  --baseline miniagent
//
// A command is split into words at blanks (no quoting); `&&` alone between
// words starts the next program; `{i}` becomes the run's number (warm-up
// runs are numbered from 0, timed ones follow). It prints, per case, the
// median, p95, min and max and the ratio of each median to the baseline's,
// and the load average before and after; the CPU time (user + system) the
// programs used is printed beside, a steadier number on a busy machine.
//
// It is driven by scripts/bench-cli.sh.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// multiFlag collects a repeated NAME=COMMAND flag in order.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var cases, cleanups multiFlag
	runs := flag.Int("runs", 30, "timed runs of each case")
	warmup := flag.Int("warmup", 1, "untimed runs of each case before the timed ones")
	baseline := flag.String("baseline", "", "case whose median the others are compared with (default the first)")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up on one command after this long")
	settleMax := flag.Duration("settle", 0, "before each run, wait up to this long for the host to be quiet (a 200 ms window under 10 % CPU); 0: do not wait")
	flag.Var(&cases, "case", "NAME=COMMAND to time (repeatable; order kept)")
	flag.Var(&cleanups, "cleanup", "NAME=COMMAND run untimed after each run of case NAME")
	flag.Parse()
	plan, err := parsePlan(cases, cleanups, *baseline)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcli:", err)
		os.Exit(2)
	}
	if *runs < 1 || *warmup < 0 {
		fmt.Fprintln(os.Stderr, "benchcli: --runs must be at least 1 and --warmup not negative")
		os.Exit(2)
	}
	if err := run(plan, *runs, *warmup, *timeout, *settleMax, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchcli:", err)
		os.Exit(1)
	}
}
