package main

import (
	"os"
	"strings"

	"github.com/prometheus/procfs"
)

// shimCPU sums the CPU seconds of the containerd shims of containerd
// namespace ns, including their reaped children (runc and every process an
// exec probe starts are reaped by the shim): utime+stime+cutime+cstime.
// pids, when not nil, restricts the sum to those shims; the shims found are
// returned so a second call can measure the same set.
func shimCPU(ns string, pids []int) (float64, []int, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, nil, err
	}
	if pids == nil {
		procs, err := fs.AllProcs()
		if err != nil {
			return 0, nil, err
		}
		for _, p := range procs {
			args, err := p.CmdLine()
			if err == nil && isShimOf(args, ns) {
				pids = append(pids, p.PID)
			}
		}
	}
	var sum float64
	for _, pid := range pids {
		p, err := fs.Proc(pid)
		if err != nil {
			continue
		}
		s, err := p.Stat()
		if err != nil {
			continue // exited meanwhile
		}
		sum += s.CPUTime() + float64(s.CUTime+s.CSTime)/userHZ
	}
	return sum, pids, nil
}

// userHZ is the kernel's USER_HZ, the unit of the tick fields in /proc/PID/stat.
const userHZ = 100

// isShimOf reports whether args is a containerd shim command line for ns.
func isShimOf(args []string, ns string) bool {
	if len(args) == 0 || !strings.HasPrefix(baseName(args[0]), "containerd-shim") {
		return false
	}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-namespace" && args[i+1] == ns {
			return true
		}
	}
	return false
}

func baseName(p string) string { return p[strings.LastIndexByte(p, os.PathSeparator)+1:] }
