package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/miniagent/miniagent/agent/api"
)

// floorRequest is the bytes a floor probe sends: what an HTTP readiness
// probe of the benchmark's pods sends, within a few header bytes.
const floorRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: kube-probe/1.37\r\nAccept: */*\r\nConnection: close\r\n\r\n"

// floorResult is what the floor window measured: its own thread's CPU.
type floorResult struct {
	window         time.Duration
	runs, failures int
	user, sys      time.Duration
}

// perProbe is the floor's CPU per probe run.
func (f floorResult) perProbe() time.Duration {
	if f.runs == 0 {
		return 0
	}
	return (f.user + f.sys) / time.Duration(f.runs)
}

// runFloor makes, for window, the same HTTP connections as the pods'
// readiness probes (one a pod a period, into the pod's network namespace,
// a new connection each, SO_LINGER 1 s, request written, answer read to
// EOF), from one locked thread with bare blocking system calls and no Go
// networking, and reads that thread's CPU time. The pods are spread over
// four 250 ms slots, each a half-slot off the agent's tick grid, so the
// floor's connections do not land on the same instants as the agent's.
// The agent keeps probing meanwhile; each side's CPU is its own.
func runFloor(ctx context.Context, c *api.Client, ns string, names []string, nsDir string, period, window time.Duration) (floorResult, error) {
	res := floorResult{window: window}
	pods, err := c.ListPods(ctx, ns)
	if err != nil {
		return res, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, p := range pods {
		if !want[p.Name] {
			continue
		}
		fd, err := unix.Open(filepath.Join(nsDir, string(p.UID), "net"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return res, fmt.Errorf("floor: pod %s: %w", p.Name, err)
		}
		fds = append(fds, fd)
	}
	if len(fds) == 0 {
		return res, fmt.Errorf("floor: no pod namespaces under %s", nsDir)
	}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	host, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return res, err
	}
	defer unix.Close(host)

	const slots = 4
	slot := period / slots
	req, buf := []byte(floorRequest), make([]byte, 4096)
	sa := &unix.SockaddrInet4{Port: 8080, Addr: [4]byte{127, 0, 0, 1}}
	var ru0, ru1 unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru0); err != nil {
		return res, err
	}
	start := time.Now().Truncate(slot).Add(slot + slot/2)
	for k := 0; ; k++ {
		at := start.Add(time.Duration(k) * slot)
		if at.Sub(start) >= window {
			break
		}
		time.Sleep(time.Until(at))
		for i := k % slots; i < len(fds); i += slots {
			if err := floorProbe(fds[i], host, sa, req, buf); err != nil {
				res.failures++
				continue
			}
			res.runs++
		}
	}
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru1); err != nil {
		return res, err
	}
	res.user = time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano())
	res.sys = time.Duration(ru1.Stime.Nano() - ru0.Stime.Nano())
	return res, nil
}

// floorProbe is one connection: a socket made in the namespace nsFD, the
// request, the answer to EOF. The thread is back in host's namespace after.
func floorProbe(nsFD, host int, sa unix.Sockaddr, req, buf []byte) error {
	if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err2 := unix.Setns(host, unix.CLONE_NEWNET); err2 != nil {
		// The thread cannot go back: better to stop than to measure from
		// the wrong namespace.
		fmt.Fprintln(os.Stderr, "benchprobes: floor: back to the host namespace:", err2)
		os.Exit(1)
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
	tv := unix.Timeval{Sec: 1}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Connect(fd, sa); err != nil {
		return err
	}
	if _, err := unix.Write(fd, req); err != nil {
		return err
	}
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// reportFloor prints the floor next to the agent's cost per network probe.
func reportFloor(f floorResult, agentPerProbe time.Duration) {
	fmt.Printf("\n==> floor: the same HTTP connections from one thread, bare system calls, %v\n", f.window)
	fmt.Printf("    %d runs (%d failed), %v CPU a probe (user %v, system %v)",
		f.runs, f.failures, f.perProbe().Round(time.Microsecond),
		(f.user / time.Duration(max(f.runs, 1))).Round(time.Microsecond), (f.sys / time.Duration(max(f.runs, 1))).Round(time.Microsecond))
	if agentPerProbe > 0 && f.runs > 0 {
		fmt.Printf("; the agent's %v a probe is %.2f× the floor", agentPerProbe.Round(time.Microsecond), float64(agentPerProbe)/float64(f.perProbe()))
	}
	fmt.Println()
}
