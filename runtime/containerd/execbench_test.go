package containerd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkExecProbe runs b.N sequential exec probes (`cat /tmp/healthy`)
// in one running busybox container and reports the CPU each one cost,
// split by process:
//
//   - agent-µs: this test process (getrusage self), the agent's share;
//   - containerd-µs: the shared containerd (utime+stime of `pgrep -x
//     containerd`; other work on the host lands here too);
//   - shim-µs, shim-children-µs: the container's shim itself, and what it
//     reaped (cutime+cstime: runc exec, runc init, the exec'd command);
//   - server-µs, server-children-µs: the exec server and the commands it
//     reaped (fast path only);
//   - total-µs: their sum.
//
// Sub-benchmarks: runc (always containerd's exec) and fast (the exec
// server; skipped without the helper). Needs MINIAGENT_E2E=1:
//
//	MINIAGENT_E2E=1 MINIAGENT_E2E_NAMESPACE=ma-execfast go test -run '^$' \
//	    -bench ExecProbe -benchtime 300x ./runtime/containerd
func BenchmarkExecProbe(b *testing.B) {
	if os.Getenv("MINIAGENT_E2E") != "1" {
		b.Skip("MINIAGENT_E2E=1 not set")
	}
	needRuntime(b)
	p := newPod(b, false)
	spec := p.spec("sleep", "100000")
	p.start(spec)
	ctx := context.Background()
	if res, err := rt.Exec(ctx, spec.ID, []string{"touch", "/tmp/healthy"}, 10*time.Second, 1024); err != nil || res.ExitCode != 0 {
		b.Fatalf("touch: %+v %v", res, err)
	}
	for _, path := range benchPaths() {
		b.Run(path.name, func(b *testing.B) {
			if path.rt == nil {
				b.Skip(path.skip)
			}
			benchExec(b, path.rt, spec.ID)
		})
	}
}

type benchPath struct {
	name string
	rt   *Runtime
	skip string
}

// benchExec measures b.N probes through r in container id.
func benchExec(b *testing.B, r *Runtime, id string) {
	ctx := context.Background()
	probe := func() {
		res, err := r.Exec(ctx, id, []string{"cat", "/tmp/healthy"}, 10*time.Second, 10240)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("probe: %+v %v", res, err)
		}
	}
	probe() // warm-up: the fast path starts its server here
	ctdPid, err := pgrepContainerd()
	if err != nil {
		b.Fatal(err)
	}
	shimPid, err := shimOf(r, id)
	if err != nil {
		b.Fatal(err)
	}
	serverPid := r.execServerPid(id)
	before := benchSample(ctdPid, shimPid, serverPid)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		probe()
	}
	b.StopTimer()
	after := benchSample(ctdPid, shimPid, serverPid)
	n := float64(b.N)
	var total float64
	for i, name := range []string{"agent", "containerd", "shim", "shim-children", "server", "server-children"} {
		us := float64(after[i]-before[i]) / n
		total += us
		b.ReportMetric(us, name+"-µs/op")
	}
	b.ReportMetric(total, "total-µs/op")
}

// benchSample is CPU time in µs: agent, containerd, shim self, shim
// children, server self, server children.
func benchSample(ctd, shim, server int) [6]int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	agent := ru.Utime.Sec*1e6 + ru.Utime.Usec + ru.Stime.Sec*1e6 + ru.Stime.Usec
	c, _ := procCPU(ctd)
	s, sc := procCPU(shim)
	var v, vc int64
	if server > 0 {
		v, vc = procCPU(server)
	}
	return [6]int64{agent, c, s, sc, v, vc}
}

// procCPU reads utime+stime and cutime+cstime of pid in µs.
func procCPU(pid int) (self, children int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// Fields after the ")" that ends comm: state is field 3, utime 14.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	tick := func(i int) int64 { n, _ := strconv.ParseInt(f[i-3], 10, 64); return n * 1e6 / 100 } // CLK_TCK 100
	return tick(14) + tick(15), tick(16) + tick(17)
}

func pgrepContainerd() (int, error) {
	out, err := exec.Command("pgrep", "-x", "containerd").Output()
	if err != nil {
		return 0, fmt.Errorf("pgrep -x containerd: %v", err)
	}
	return strconv.Atoi(strings.Fields(string(out))[0])
}

// shimOf is the pid of the shim of container id: the parent of its task's
// process.
func shimOf(r *Runtime, id string) (int, error) {
	ctx := r.ns(context.Background())
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, err
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		return 0, err
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", t.Pid()))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	return strconv.Atoi(f[1])
}

// benchPaths are the exec paths to compare: runc exec (a runtime without
// the helper) and the exec server (the shared test runtime, which has it).
func benchPaths() []benchPath {
	return []benchPath{{name: "runc", rt: rtRunc, skip: "no runc-only runtime"}, {name: "fast", rt: rt, skip: "no runtime"}}
}
