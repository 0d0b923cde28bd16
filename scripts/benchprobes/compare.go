package main

import (
	"fmt"
	"os"
	"text/tabwriter"
)

// compare prints what the exec liveness probes added on top of the phase
// with network probes only: CPU per exec probe of the agent, of containerd
// and of the shims with their reaped children (runc and the probe command),
// from the difference of the two phases' CPU rates.
func compare(net, full phaseResult) {
	execRuns := int(full.counted["Liveness"]) // runs with a result, at any log level
	for _, s := range full.stats {
		if s.kind == "Liveness" && execRuns == 0 {
			execRuns = s.runs
		}
	}
	ns, fs := net.use.to.Sub(net.use.from).Seconds(), full.use.to.Sub(full.use.from).Seconds()
	if execRuns == 0 || ns <= 0 || fs <= 0 {
		fmt.Println("\n==> no exec probe runs in the full phase: nothing to compare")
		return
	}
	perProbe := func(netCPU, fullCPU float64) float64 {
		return (fullCPU/fs - netCPU/ns) * fs / float64(execRuns) * 1e3
	}
	fmt.Printf("\n==> exec probes: %d runs in %.1fs (%.1f/s); cost per exec probe = (full-phase CPU rate − network-only rate) × window / runs\n",
		execRuns, fs, float64(execRuns)/fs)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "agent CPU, network probes only\t%.1f%% of one core\n", 100*net.use.cpu/ns)
	fmt.Fprintf(w, "agent CPU, network + exec probes\t%.1f%% of one core\n", 100*full.use.cpu/fs)
	agent, ctd, shim := perProbe(net.use.cpu, full.use.cpu), perProbe(net.use.ctdCPU, full.use.ctdCPU), perProbe(net.use.shimCPU, full.use.shimCPU)
	fmt.Fprintf(w, "per exec probe: agent\t%.2f ms CPU\n", agent)
	fmt.Fprintf(w, "per exec probe: containerd\t%.2f ms CPU\n", ctd)
	fmt.Fprintf(w, "per exec probe: shims + runc + probe command\t%.2f ms CPU\n", shim)
	fmt.Fprintf(w, "per exec probe: total\t%.2f ms CPU\n", agent+ctd+shim)
	w.Flush()
}
