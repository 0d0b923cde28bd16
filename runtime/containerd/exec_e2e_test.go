package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/typeurl/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/miniagent/miniagent/runtime"
)

// End-to-end tests of the exec server against the real containerd and
// runc (MINIAGENT_E2E=1).

func needE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("MINIAGENT_E2E") != "1" {
		t.Skip("MINIAGENT_E2E=1 not set")
	}
	needRuntime(t)
}

// identityScript prints what a process gets from its exec: identity,
// privileges, confinement, namespaces, cgroup, limits, environment, cwd.
const identityScript = `grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|SigBlk|SigIgn|SigCgt|Speculation_Store_Bypass)' /proc/self/status
echo cgroup; cat /proc/self/cgroup
for n in /proc/self/ns/*; do echo "$n $(readlink $n)"; done
echo "apparmor $(cat /proc/self/attr/current 2>&1)"
echo "oom_score_adj $(cat /proc/self/oom_score_adj)"
echo limits; cat /proc/self/limits
echo "umask $(umask)"
echo "cwd $(pwd)"
echo env; env | sort
echo "fds $(ls /proc/self/fd | tr '\n' ' ')"`

func TestExecIdentity(t *testing.T) {
	needE2E(t)
	u, g := int64(1000), int64(3000)
	for _, tc := range []struct {
		name string
		set  func(*runtime.ContainerSpec)
		want []string // lines the output must have, so equal output is not equal failure
	}{
		{name: "default root", set: func(*runtime.ContainerSpec) {}, want: []string{"Uid:\t0\t0\t0\t0", "NoNewPrivs:\t0", "cwd /"}},
		{name: "restricted", set: func(s *runtime.ContainerSpec) {
			s.RunAsUser, s.RunAsGroup = &u, &g
			s.SupplementalGroups = []int64{4000, 5000}
			s.DropCapabilities = []string{"ALL"}
			s.AddCapabilities = []string{"NET_BIND_SERVICE", "CHOWN"}
			s.NoNewPrivileges = true
			s.Seccomp = runtime.SeccompRuntimeDefault
			s.WorkingDir = "/tmp"
			s.Env = []string{"FOO=bar baz", "PATH=/bin:/usr/bin"}
		}, want: []string{"Uid:\t1000\t1000\t1000\t1000", "Gid:\t3000\t3000\t3000\t3000", "Groups:\t3000 4000 5000 ",
			"CapBnd:\t0000000000000401", "NoNewPrivs:\t1", "Seccomp:\t2", "cwd /tmp", "FOO=bar baz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPod(t, false)
			spec := p.spec("sleep", "100000")
			tc.set(&spec)
			p.start(spec)
			ctx := context.Background()
			before := fallbacks(rt)
			fast, err := rt.Exec(ctx, spec.ID, []string{"sh", "-c", identityScript}, 10*time.Second, 64<<10)
			if err != nil || fast.ExitCode != 0 {
				t.Fatalf("fast path: %d %q %v", fast.ExitCode, fast.Output, err)
			}
			if rt.execServerPid(spec.ID) == 0 || fallbacks(rt) != before {
				t.Fatalf("the exec did not go through the exec server (server pid %d)", rt.execServerPid(spec.ID))
			}
			plain, err := rtRunc.Exec(ctx, spec.ID, []string{"sh", "-c", identityScript}, 10*time.Second, 64<<10)
			if err != nil || plain.ExitCode != 0 {
				t.Fatalf("runc exec: %d %q %v", plain.ExitCode, plain.Output, err)
			}
			if string(fast.Output) != string(plain.Output) {
				t.Fatalf("exec server and runc exec differ:\n%s", lineDiff(string(plain.Output), string(fast.Output)))
			}
			for _, w := range tc.want {
				if !strings.Contains(string(fast.Output), w) {
					t.Errorf("output lacks %q:\n%s", w, fast.Output)
				}
			}
			t.Logf("identical:\n%s", fast.Output)
		})
	}
}

// fallbacks is r's miniagent_exec_fallbacks_total, all reasons.
func fallbacks(r *Runtime) float64 {
	var n float64
	for _, reason := range []string{FallbackNoHelper, FallbackBusy, FallbackStartFailed, FallbackServerDied, FallbackProtocol, FallbackServerError} {
		n += testutil.ToFloat64(r.execFallbacks.WithLabelValues(reason))
	}
	return n
}

// lineDiff lists the lines of a and b that differ, by position.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d: runc %q, server %q", i+1, x, y))
		}
	}
	return strings.Join(out, "\n")
}

// execProcesses lists the exec IDs of the task's processes besides its own.
func execProcesses(t *testing.T, id string) []string {
	t.Helper()
	ctx := rt.ns(context.Background())
	task, err := mustContainer(t, id).Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := task.Pids(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var execs []string
	for _, p := range pids {
		if p.Pid == task.Pid() {
			continue
		}
		name := fmt.Sprintf("pid %d", p.Pid)
		if p.Info != nil {
			if v, err := typeurl.UnmarshalAny(p.Info); err == nil {
				if d, ok := v.(interface{ GetExecID() string }); ok {
					name = d.GetExecID()
				}
			}
		}
		execs = append(execs, name)
	}
	return execs
}

func TestExecServerTimeout(t *testing.T) {
	needE2E(t)
	p := newPod(t, false)
	spec := p.spec("sleep", "100000")
	p.start(spec)
	ctx := context.Background()
	if _, err := rt.Exec(ctx, spec.ID, []string{"true"}, 5*time.Second, 10); err != nil {
		t.Fatal(err)
	}
	server := rt.execServerPid(spec.ID)
	start := time.Now()
	res, err := rt.Exec(ctx, spec.ID, []string{"sh", "-c", "echo $$ > /tmp/probe.pid; echo started; exec sleep 100"}, 500*time.Millisecond, 100)
	if !errors.Is(err, runtime.ErrExecTimeout) || res.ExitCode != -1 || string(res.Output) != "started\n" {
		t.Fatalf("timed-out exec: %d %q %v", res.ExitCode, res.Output, err)
	}
	if d := time.Since(start); d < 500*time.Millisecond || d > 5*time.Second {
		t.Fatalf("timed-out exec returned after %v", d)
	}
	// The probe's process is gone, the server is not.
	res, err = rt.Exec(ctx, spec.ID, []string{"sh", "-c", "kill -0 $(cat /tmp/probe.pid)"}, 5*time.Second, 100)
	if err != nil || res.ExitCode == 0 {
		t.Fatalf("the timed-out command still runs: %d %q %v", res.ExitCode, res.Output, err)
	}
	if got := rt.execServerPid(spec.ID); got != server {
		t.Fatalf("server %d replaced by %d after a timeout", server, got)
	}
	if execs := execProcesses(t, spec.ID); len(execs) != 1 || execs[0] != execServerID {
		t.Fatalf("processes besides the container's: %q, want only %q", execs, execServerID)
	}
}

// crashChildEnv makes the test binary an agent that starts an exec server
// in the container named by the variable and then waits to be SIGKILLed
// (see TestMain).
const crashChildEnv = "MINIAGENT_EXEC_CRASH_CHILD"

// execCrashChild is that agent: it prints "server <pid>" once its exec ran.
func execCrashChild(id string) int {
	ctx := context.Background()
	r, err := New(ctx, Options{
		Namespace: testNamespace, StateDir: os.Getenv("MINIAGENT_EXEC_STATE_DIR"),
		ExecHelper: os.Getenv("MINIAGENT_EXEC_HELPER"),
	})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	if res, err := r.Exec(ctx, id, []string{"true"}, 5*time.Second, 10); err != nil || res.ExitCode != 0 {
		fmt.Println("error", res.ExitCode, err)
		return 1
	}
	fmt.Println("server", r.execServerPid(id))
	time.Sleep(time.Minute)
	return 0
}

func TestExecServerReplacedAfterAgentCrash(t *testing.T) {
	needE2E(t)
	p := newPod(t, false)
	spec := p.spec("sleep", "100000")
	p.start(spec)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), crashChildEnv+"="+spec.ID,
		"MINIAGENT_EXEC_STATE_DIR="+rt.opts.StateDir, "MINIAGENT_EXEC_HELPER="+rt.opts.ExecHelper)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = child.Process.Kill() // the agent crashes
	_ = child.Wait()
	old, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "server "))
	if err != nil || old == 0 {
		t.Fatalf("crashed agent said %q", line)
	}
	// The restarted agent (rt) execs: the old server is replaced.
	res, err := rt.Exec(context.Background(), spec.ID, []string{"echo", "after restart"}, 5*time.Second, 100)
	if err != nil || res.ExitCode != 0 || string(res.Output) != "after restart\n" {
		t.Fatalf("exec after the agent's restart: %d %q %v", res.ExitCode, res.Output, err)
	}
	if now := rt.execServerPid(spec.ID); now == 0 || now == old {
		t.Fatalf("server pid %d after restart, old %d", now, old)
	}
	if err := syscall.Kill(old, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("the crashed agent's server %d still exists: %v", old, err)
	}
	if execs := execProcesses(t, spec.ID); len(execs) != 1 || execs[0] != execServerID {
		t.Fatalf("processes besides the container's: %q, want only %q", execs, execServerID)
	}
}

func TestExecServerEndsWithContainer(t *testing.T) {
	needE2E(t)
	p := newPod(t, false)
	spec := p.spec("sleep", "100000")
	p.start(spec)
	ctx := context.Background()
	if _, err := rt.Exec(ctx, spec.ID, []string{"true"}, 5*time.Second, 10); err != nil {
		t.Fatal(err)
	}
	// A server killed from outside is replaced quietly, and its exit is no
	// container exit.
	first := rt.execServerPid(spec.ID)
	before := fallbacks(rt)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rt.execServerPid(spec.ID) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if res, err := rt.Exec(ctx, spec.ID, []string{"true"}, 5*time.Second, 10); err != nil || res.ExitCode != 0 {
		t.Fatalf("exec after the server was killed: %+v %v", res, err)
	}
	second := rt.execServerPid(spec.ID)
	if second == 0 || second == first || fallbacks(rt) != before {
		t.Fatalf("server %d -> %d, fallbacks %v -> %v", first, second, before, fallbacks(rt))
	}
	time.Sleep(200 * time.Millisecond)
	if evs := hub.of(spec.ID); len(evs) != 0 {
		t.Fatalf("the exec server's exit was reported for the container: %+v", evs)
	}
	// Stop: the server ends with the container; one exit, the container's.
	if err := rt.StopContainer(ctx, spec.ID, syscall.SIGTERM, time.Second); err != nil {
		t.Fatal(err)
	}
	ev := hub.waitFor(t, spec.ID, runtime.EventExit, 10*time.Second)
	if ev.ExitCode != 137 {
		t.Fatalf("container exit %+v", ev)
	}
	if err := syscall.Kill(second, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("server %d outlived its container: %v", second, err)
	}
	if err := rt.RemoveContainer(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if evs := hub.of(spec.ID); len(evs) != 1 {
		t.Fatalf("events %+v, want the container's exit only", evs)
	}
	if _, err := os.Stat(filepath.Join(rt.opts.ExecDir, spec.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("FIFO directory left: %v", err)
	}
}

// A task is deleted (killed) with its exec server running, as the agent
// deletes a running container; nothing stays.
func TestExecServerTaskDelete(t *testing.T) {
	needE2E(t)
	p := newPod(t, false)
	spec := p.spec("sleep", "100000")
	p.start(spec)
	ctx := context.Background()
	if _, err := rt.Exec(ctx, spec.ID, []string{"true"}, 5*time.Second, 10); err != nil {
		t.Fatal(err)
	}
	server := rt.execServerPid(spec.ID)
	// containerd's own task delete, with the server's exec process present
	// (rtRunc knows nothing of the server).
	c := mustContainer(t, spec.ID)
	task, err := c.Task(rt.ns(ctx), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := task.Delete(rt.ns(ctx), client.WithProcessKill); err != nil {
		t.Fatalf("task delete with the exec server running: %v", err)
	}
	if err := syscall.Kill(server, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("server %d outlived its task: %v", server, err)
	}
	if err := rt.RemoveContainer(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rt.opts.ExecDir, spec.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("FIFO directory left: %v", err)
	}
	rt.execMu.Lock()
	_, left := rt.execs[spec.ID]
	rt.execMu.Unlock()
	if left {
		t.Fatal("exec entry left after RemoveContainer")
	}
}

// A second exec of a container while its server runs one goes through runc
// exec at once, counted as busy, instead of waiting.
func TestExecServerBusyFallsBack(t *testing.T) {
	needE2E(t)
	p := newPod(t, false)
	spec := p.spec("sleep", "100000")
	p.start(spec)
	ctx := context.Background()
	if _, err := rt.Exec(ctx, spec.ID, []string{"true"}, 5*time.Second, 10); err != nil {
		t.Fatal(err)
	}
	busy := rt.execFallbacks.WithLabelValues(FallbackBusy)
	before := testutil.ToFloat64(busy)
	slow := make(chan error, 1)
	go func() {
		res, err := rt.Exec(ctx, spec.ID, []string{"sleep", "2"}, 10*time.Second, 10)
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit %d", res.ExitCode)
		}
		slow <- err
	}()
	time.Sleep(500 * time.Millisecond) // the slow one is on the server
	res, err := rt.Exec(ctx, spec.ID, []string{"echo", "meanwhile"}, 10*time.Second, 100)
	if err != nil || string(res.Output) != "meanwhile\n" {
		t.Fatalf("exec beside a running one: %+v %v", res, err)
	}
	select {
	case err := <-slow:
		t.Fatalf("the slow exec ended (%v) before the concurrent one: the test proves nothing", err)
	default:
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(busy); got != before+1 {
		t.Fatalf("busy fallbacks %v -> %v, want one more", before, got)
	}
}

// PrepareExec starts the container's server, concurrent calls wait for the
// same start, and the first Exec then uses it: no fallback, no new server.
func TestPrepareExecStartsServer(t *testing.T) {
	needE2E(t)
	p := newPod(t, false)
	spec := p.spec("sleep", "100000")
	p.start(spec)
	ctx := context.Background()
	before := fallbacks(rt)
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { errs <- rt.PrepareExec(ctx, spec.ID) }()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("PrepareExec: %v", err)
		}
	}
	pid := rt.execServerPid(spec.ID)
	if pid == 0 {
		t.Fatal("no exec server after PrepareExec")
	}
	if res, err := rt.Exec(ctx, spec.ID, []string{"true"}, 5*time.Second, 10); err != nil || res.ExitCode != 0 {
		t.Fatalf("exec after PrepareExec: %+v %v", res, err)
	}
	if got := rt.execServerPid(spec.ID); got != pid || fallbacks(rt) != before {
		t.Fatalf("server %d -> %d, fallbacks %v -> %v: want the prepared server, no fallback", pid, got, before, fallbacks(rt))
	}
}
