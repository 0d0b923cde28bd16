// Command benchprobes is the probe density benchmark scripts/bench-probes.sh
// runs against a miniagent daemon started with --v debug: it applies N
// busybox httpd pods, each with an HTTP readiness probe (period 1 s) and an
// exec liveness probe (period 10 s), waits until all are ready, then measures
// over a window the daemon's CPU use and RSS (from /proc/PID/stat) and, from
// the daemon's "probe" debug lines, the probe latency and how late probes
// begin against their schedule. It prints a summary table and deletes its
// pods.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	goruntime "runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/procfs"

	"github.com/miniagent/miniagent/agent/api"
)

type options struct {
	socket, logFile, namespace string
	server                     string // host path of benchhttpd ("": busybox httpd)
	ctrNamespace               string // containerd namespace of the daemon (for its shims)
	pid, containerdPID, pods   int
	window, settle, timeout    time.Duration
	netWindow                  time.Duration // > 0: first a phase without exec probes
	floorWindow                time.Duration // > 0: after the network-only window, the floor's
	nsDir                      string        // the daemon's namespace bind mounts (<uid>/net)
	readyPeriod, livePeriod    int
	keep                       bool
	profileDir                 string // "": no profiles
	prof                       *profiler
	hc                         *http.Client // to the API socket, for /metrics
}

func main() {
	var o options
	flag.StringVar(&o.socket, "socket", "", "the daemon's API socket")
	flag.StringVar(&o.logFile, "log", "", "the daemon's log file (written with --v debug)")
	flag.StringVar(&o.namespace, "n", "default", "pod namespace")
	flag.StringVar(&o.server, "httpd", "", "host path of benchhttpd, the pods' HTTP server (empty: busybox httpd, a fork per request)")
	flag.StringVar(&o.ctrNamespace, "containerd-namespace", "", "the daemon's containerd namespace: also measure its shims' CPU")
	flag.IntVar(&o.pid, "pid", 0, "the daemon's process ID")
	flag.IntVar(&o.containerdPID, "containerd-pid", 0, "containerd's process ID (0: not measured)")
	flag.IntVar(&o.pods, "pods", 100, "number of pods")
	flag.DurationVar(&o.window, "window", 60*time.Second, "measurement window")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait after all pods are ready before measuring")
	flag.DurationVar(&o.timeout, "ready-timeout", 5*time.Minute, "how long the pods may take to become ready")
	flag.IntVar(&o.readyPeriod, "readiness-period", 1, "readiness probe periodSeconds")
	flag.IntVar(&o.livePeriod, "liveness-period", 10, "liveness probe periodSeconds")
	flag.DurationVar(&o.netWindow, "net-window", 0, "first run a phase of this window with HTTP readiness probes only (0: skip), then the full phase")
	flag.DurationVar(&o.floorWindow, "floor-window", 0, "after the network-only window, make the same HTTP connections with bare system calls for this long and report their CPU (0: skip)")
	flag.StringVar(&o.nsDir, "netns-dir", "/run/miniagent/ns", "where the daemon bind-mounts the pods' namespaces (<pod uid>/net)")
	flag.BoolVar(&o.keep, "keep", false, "leave the pods running")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write the daemon's CPU profile of each window and its heap and goroutine profiles at the window's end here")
	flag.Parse()
	if o.socket == "" || o.logFile == "" || o.pid == 0 {
		fmt.Fprintln(os.Stderr, "benchprobes: --socket, --log and --pid are required")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "benchprobes:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	c := api.NewClient(o.socket)
	var err error
	o.hc = unixClient(o.socket)
	if o.prof, err = newProfiler(o.socket, o.profileDir); err != nil {
		return err
	}
	names := make([]string, o.pods)
	for i := range names {
		names[i] = fmt.Sprintf("bench-probe-%03d", i)
	}
	var net *phaseResult
	if o.netWindow > 0 {
		r, err := runPhase(ctx, c, o, names, 0, o.netWindow)
		deleteAll(c, o.namespace, names)
		if err != nil {
			return err
		}
		report(o, r)
		net = &r
	}
	if !o.keep {
		defer deleteAll(c, o.namespace, names)
	}
	r, err := runPhase(ctx, c, o, names, o.livePeriod, o.window)
	if err != nil {
		return err
	}
	report(o, r)
	if net != nil {
		compare(*net, r)
	}
	return nil
}

// phaseResult is what one phase (apply, wait for ready, measure) saw.
type phaseResult struct {
	livePeriod    int
	allReady      time.Duration
	use           usage
	stats         []kindStats
	periods       map[string]time.Duration
	before, after podCounts
	// counted is prober_probe_total's increase over the window, by probe
	// type: runs with a result, known at any log level.
	counted probeCounts
	floor   *floorResult // network-only phase with --floor-window
}

// runPhase applies the pods (livePeriod 0: without the exec liveness probe),
// waits until all are ready, settles, and measures one window.
func runPhase(ctx context.Context, c *api.Client, o options, names []string, livePeriod int, window time.Duration) (phaseResult, error) {
	res := phaseResult{livePeriod: livePeriod, periods: map[string]time.Duration{
		"Readiness": time.Duration(o.readyPeriod) * time.Second,
		"Liveness":  time.Duration(livePeriod) * time.Second,
	}}
	live := "no liveness probe"
	if livePeriod > 0 {
		live = fmt.Sprintf("exec liveness every %ds", livePeriod)
	}
	fmt.Printf("==> apply %d pods (HTTP readiness every %ds, %s)\n", o.pods, o.readyPeriod, live)
	t0 := time.Now()
	err := forEach(names, 4, func(n string) error {
		_, _, err := c.Apply(ctx, benchPod(o.namespace, n, o.server, int32(o.readyPeriod), int32(livePeriod)))
		return err
	})
	if err != nil {
		return res, fmt.Errorf("apply: %w", err)
	}
	applied := time.Since(t0)
	if err := waitReady(ctx, c, o.namespace, names, o.timeout); err != nil {
		return res, err
	}
	res.allReady = time.Since(t0)
	fmt.Printf("    applied in %v, all %d ready after %v\n", applied.Round(time.Millisecond), o.pods, res.allReady.Round(time.Millisecond))
	time.Sleep(o.settle)

	fmt.Printf("==> measure for %v\n", window)
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	if res.before, err = countPods(ctx, c, o.namespace, want); err != nil {
		return res, err
	}
	phase := "full"
	if livePeriod == 0 {
		phase = "net"
	}
	cpuProf := o.prof.cpu(phase, max(int(window.Seconds())-1, 1))
	counts0, err := scrapeProbeCounts(o.hc)
	if err != nil {
		return res, err
	}
	if res.use, err = measure(o.pid, o.containerdPID, o.ctrNamespace, window); err != nil {
		return res, err
	}
	counts1, err := scrapeProbeCounts(o.hc)
	if err != nil {
		return res, err
	}
	res.counted = counts1.sub(counts0)
	if err := <-cpuProf; err != nil {
		return res, err
	}
	if err := o.prof.snapshot(phase); err != nil {
		return res, err
	}
	if res.after, err = countPods(ctx, c, o.namespace, want); err != nil {
		return res, err
	}
	if livePeriod == 0 && o.floorWindow > 0 {
		fmt.Printf("==> floor for %v\n", o.floorWindow)
		f, err := runFloor(ctx, c, o.namespace, names, o.nsDir, time.Duration(o.readyPeriod)*time.Second, o.floorWindow)
		if err != nil {
			return res, err
		}
		res.floor = &f
	}
	f, err := os.Open(o.logFile)
	if err != nil {
		return res, err
	}
	defer f.Close()
	runs, err := parseProbeLog(f, res.use.from, res.use.to)
	if err != nil {
		return res, err
	}
	res.stats = analyze(runs, res.periods)
	return res, nil
}

// usage is what one measurement window saw.
type usage struct {
	from, to             time.Time
	cpu, ctdCPU          float64 // seconds of user+system CPU in the window
	shimCPU              float64 // the same for the shims, with their reaped children
	shims                int
	hostBusy             float64 // share of all CPUs busy in the window (every process on the host)
	rssMax, rssMean      int     // bytes
	ctdRSS               int     // containerd's RSS at the end, bytes
	agentThreadsAtEnd    int
	anonAtEnd, fileAtEnd int // the daemon's RssAnon and RssFile at the end, bytes
}

// measure samples the daemon's RSS every second for window and reads its
// CPU time (utime+stime) at both ends.
func measure(pid, ctdPID int, ctrNS string, window time.Duration) (usage, error) {
	proc, err := procfs.NewProc(pid)
	if err != nil {
		return usage{}, err
	}
	stat := func(p procfs.Proc) (procfs.ProcStat, error) { return p.Stat() }
	var ctd procfs.Proc
	ctdStart := 0.0
	if ctdPID > 0 {
		if ctd, err = procfs.NewProc(ctdPID); err != nil {
			return usage{}, err
		}
		s, err := stat(ctd)
		if err != nil {
			return usage{}, err
		}
		ctdStart = s.CPUTime()
	}
	var shims []int
	shimStart := 0.0
	if ctrNS != "" {
		if shimStart, shims, err = shimCPU(ctrNS, nil); err != nil {
			return usage{}, err
		}
	}
	h0, err := hostCPU()
	if err != nil {
		return usage{}, err
	}
	s0, err := stat(proc)
	if err != nil {
		return usage{}, err
	}
	u := usage{from: time.Now(), shims: len(shims)}
	var rssSum, samples int
	for end := u.from.Add(window); time.Now().Before(end); {
		time.Sleep(min(time.Second, time.Until(end)))
		s, err := stat(proc)
		if err != nil {
			return usage{}, fmt.Errorf("daemon pid %d: %w", pid, err)
		}
		rss := s.ResidentMemory()
		u.rssMax = max(u.rssMax, rss)
		rssSum += rss
		samples++
	}
	s1, err := stat(proc)
	if err != nil {
		return usage{}, err
	}
	u.to = time.Now()
	u.cpu = s1.CPUTime() - s0.CPUTime()
	u.rssMean = rssSum / max(samples, 1)
	u.agentThreadsAtEnd = s1.NumThreads
	u.anonAtEnd, u.fileAtEnd = rssSplit(pid)
	h1, err := hostCPU()
	if err != nil {
		return usage{}, err
	}
	if total := h1.total - h0.total; total > 0 {
		u.hostBusy = (h1.busy - h0.busy) / total
	}
	if ctrNS != "" {
		end, _, err := shimCPU(ctrNS, shims)
		if err != nil {
			return usage{}, err
		}
		u.shimCPU = end - shimStart
	}
	if ctdPID > 0 {
		s, err := stat(ctd)
		if err != nil {
			return usage{}, err
		}
		u.ctdCPU = s.CPUTime() - ctdStart
		u.ctdRSS = s.ResidentMemory()
	}
	return u, nil
}

func report(o options, r phaseResult) {
	u, stats, periods, allReady, before, after := r.use, r.stats, r.periods, r.allReady, r.before, r.after
	secs := u.to.Sub(u.from).Seconds()
	fmt.Printf("\n==> summary: %d pods, window %.1fs\n", o.pods, secs)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "all pods ready after\t%v\n", allReady.Round(100*time.Millisecond))
	fmt.Fprintf(w, "agent CPU (utime+stime)\t%.1f%% of one core (%.2fs in %.1fs)\n", 100*u.cpu/secs, u.cpu, secs)
	fmt.Fprintf(w, "agent RSS\tmean %.1f MiB, max %.1f MiB\n", mib(u.rssMean), mib(u.rssMax))
	fmt.Fprintf(w, "agent RSS at end\tanonymous %.1f MiB, file (the binary's pages) %.1f MiB\n", mib(u.anonAtEnd), mib(u.fileAtEnd))
	fmt.Fprintf(w, "agent threads at end\t%d\n", u.agentThreadsAtEnd)
	netRuns := r.counted["Readiness"] + r.counted["Startup"]
	fmt.Fprintf(w, "probe runs (prober_probe_total)\treadiness %.0f, liveness %.0f, startup %.0f: %.1f/s\n",
		r.counted["Readiness"], r.counted["Liveness"], r.counted["Startup"], (netRuns+r.counted["Liveness"])/secs)
	if r.livePeriod == 0 && netRuns > 0 {
		fmt.Fprintf(w, "agent CPU per network probe\t%.0f µs (all of the agent's CPU / runs)\n", 1e6*u.cpu/netRuns)
	}
	defer func() {
		if r.floor != nil && netRuns > 0 {
			reportFloor(*r.floor, time.Duration(1e9*u.cpu/netRuns))
		}
	}()
	if o.containerdPID > 0 {
		fmt.Fprintf(w, "containerd CPU (shared daemon)\t%.1f%% of one core, RSS %.1f MiB\n", 100*u.ctdCPU/secs, mib(u.ctdRSS))
	}
	if o.ctrNamespace != "" {
		fmt.Fprintf(w, "shims (%d) incl. runc + exec'd probes\t%.1f%% of one core (%.2fs)\n", u.shims, 100*u.shimCPU/secs, u.shimCPU)
	}
	fmt.Fprintf(w, "host CPU busy (everything, all users)\t%.1f%% of %d cores\n", 100*u.hostBusy, goruntime.NumCPU())
	fmt.Fprintf(w, "container restarts in window\t%d (%d since apply)\n", after.restarts-before.restarts, after.restarts)
	fmt.Fprintf(w, "ready at end\t%d of %d\n", after.ready, o.pods)
	w.Flush()

	fmt.Println()
	w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "probe\tperiod\truns\texpected\tfailed\tlatency p50\tp90\tp99\tmax\tlate p50\tp99\tmax\t|gap−period| p50\tp99\tmax\t")
	for _, s := range stats {
		expected := float64(o.pods) * secs / periods[s.kind].Seconds()
		fmt.Fprintf(w, "%s\t%v\t%d\t%.0f\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			s.kind, periods[s.kind], s.runs, expected, s.failures,
			ms(s.latency.p50), ms(s.latency.p90), ms(s.latency.p99), ms(s.latency.max),
			ms(s.late.p50), ms(s.late.p99), ms(s.late.max),
			ms(s.intervalΔ.p50), ms(s.intervalΔ.p99), ms(s.intervalΔ.max))
	}
	w.Flush()
	fmt.Println("(times in ms; late = probe start − its scheduled tick; gap = time between consecutive runs of one probe)")
}

// cpuTimes is the host's CPU time summed over all CPUs, in seconds.
type cpuTimes struct{ busy, total float64 }

func hostCPU() (cpuTimes, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return cpuTimes{}, err
	}
	st, err := fs.Stat()
	if err != nil {
		return cpuTimes{}, err
	}
	c := st.CPUTotal
	idle := c.Idle + c.Iowait
	busy := c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
	return cpuTimes{busy: busy, total: busy + idle}, nil
}

func mib(b int) float64 { return float64(b) / (1 << 20) }

// deleteAll deletes the benchmark's pods, a few at a time, without grace.
func deleteAll(c *api.Client, ns string, names []string) {
	fmt.Printf("==> delete %d pods\n", len(names))
	var zero int64
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := forEach(names, 8, func(n string) error {
		_, err := c.DeletePod(ctx, ns, n, &zero, true)
		return err
	}); err != nil {
		fmt.Fprintln(os.Stderr, "benchprobes: delete:", err)
	}
}

// rssSplit reads RssAnon and RssFile (bytes) from /proc/PID/status; 0 when
// they cannot be read.
func rssSplit(pid int) (anon, file int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int
		if n, _ := fmt.Sscanf(line, "RssAnon: %d kB", &kb); n == 1 {
			anon = kb << 10
		} else if n, _ := fmt.Sscanf(line, "RssFile: %d kB", &kb); n == 1 {
			file = kb << 10
		}
	}
	return anon, file
}
