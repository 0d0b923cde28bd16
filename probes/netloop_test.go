package probes

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// firstResults runs each probe once in a real Manager (opts decide whether
// through the network loop) and returns what each showed, by name: the
// event of a failure, a warning or an error, or "success".
func firstResults(t *testing.T, probes map[string]*v1.Probe, port int, opts ...Option) (map[string]string, *Manager) {
	return firstResultsIn(t, probes, nil, port, opts...)
}

// firstResultsIn is firstResults with the probes of the names in netNS
// made from that network namespace.
func firstResultsIn(t *testing.T, probes map[string]*v1.Probe, netNS map[string]string, port int, opts ...Option) (map[string]string, *Manager) {
	t.Helper()
	rec := &recorder{}
	var mu sync.Mutex
	seen := map[string]string{}
	m := NewManager(nil, clock.RealClock{}, rec, rec, nil, nil, opts...)
	m.rand = func() float64 { return 0 } // first probes at once
	m.SetObserver(func(o Observation) {
		if o.Success {
			mu.Lock()
			if _, ok := seen[o.PodUID]; !ok {
				seen[o.PodUID] = "success"
			}
			mu.Unlock()
		}
	})
	for name, p := range probes {
		p = p.DeepCopy()
		p.PeriodSeconds = 100
		m.AddContainer(Target{PodUID: name, Namespace: "ns", PodName: name, ContainerName: "web", ContainerID: name,
			StartedAt: time.Now(), PodIP: "127.0.0.1", NetNSPath: netNS[name],
			Container: &v1.Container{Name: "web", ReadinessProbe: p, Ports: []v1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}})
	}
	t.Cleanup(m.Stop)
	local := regexp.MustCompile(`127\.0\.0\.1:\d+->`)
	waitFor(t, 10*time.Second, "every probe's first result", func() bool {
		events, _, _ := rec.snapshot()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if _, ok := seen[e.podUID]; !ok {
				seen[e.podUID] = e.reason + ": " + local.ReplaceAllString(e.message, "LOCAL->")
			}
		}
		return len(seen) == len(probes)
	})
	mu.Lock()
	defer mu.Unlock()
	out := map[string]string{}
	for k, v := range seen {
		out[k] = v
	}
	return out, m
}

// serveTCP serves each connection to a new loopback port with handle, on
// a goroutine of its own, and returns the port.
func serveTCP(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// rawServer answers every connection with answer (then closes it, or
// keeps it open when answer ends in "HOLD").
func rawServer(t *testing.T, answers map[string]string) int {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		a := answers[req.URL.Path]
		switch {
		case a == "RESET":
			c.(*net.TCPConn).SetLinger(0)
			return
		case strings.HasSuffix(a, "HOLD"):
			_, _ = c.Write([]byte(strings.TrimSuffix(a, "HOLD")))
			time.Sleep(3 * time.Second)
			return
		}
		for _, part := range strings.Split(a, "|") { // "|": a pause between writes
			_, _ = c.Write([]byte(part))
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// The network loop gives every probe the result and message the worker
// goroutines give, for plain answers it reads itself and for everything it
// hands off: redirects, 1xx, chunked bodies, heads in pieces, errors and
// timeouts at each stage.
func TestNetLoopResultsAreTheWorkers(t *testing.T) {
	big := strings.Repeat("x", 3*maxOutput)
	longHead := "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("y", 5000) + "\r\nContent-Length: 2\r\n\r\nok"
	port := rawServer(t, map[string]string{
		"/ok":        "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nall good",
		"/no-length": "HTTP/1.1 200 OK\r\n\r\nto the end",
		"/pieces":    "HTTP/1.1 2|00 OK\r\nContent-Le|ngth: 5\r\n\r\nab|cde",
		"/big":       "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big,
		"/big-eof":   "HTTP/1.1 200 OK\r\n\r\n" + big,
		"/short":     "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly this",
		"/500":       "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\n\r\nsecret",
		"/204":       "HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nbody",
		"/chunked":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"/continue":  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		"/redirect":  "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n",
		"/away":      "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:1/x\r\nContent-Length: 4\r\n\r\naway",
		"/two-len":   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
		"/folded":    "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
		"/garbage":   "NOT HTTP AT ALL\r\n\r\n",
		"/long-head": longHead,
		"/empty":     "",
		"/reset":     "RESET",
		"/slow-head": "HOLD",
		"/slow-body": "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npartHOLD",
	})
	httpGet := func(path string) *v1.Probe { return httpProbe(intstr.FromInt32(int32(port)), path) }
	probes := map[string]*v1.Probe{}
	for _, path := range []string{"/ok", "/no-length", "/pieces", "/big", "/big-eof", "/short", "/500", "/204",
		"/chunked", "/continue", "/redirect", "/away", "/two-len", "/folded", "/garbage", "/long-head",
		"/empty", "/reset", "/slow-head", "/slow-body"} {
		probes["http"+strings.ReplaceAll(path, "/", "-")] = httpGet(path)
	}
	probes["http-named-port"] = httpProbe(intstr.FromString("web"), "/ok")
	probes["http-header"] = httpProbe(intstr.FromInt32(int32(port)), "/ok", v1.HTTPHeader{Name: "Host", Value: "example.com"})
	probes["http-refused"] = httpProbe(intstr.FromInt32(int32(closedPort(t))), "/")
	hole := blackholePort(t)
	probes["http-connect-timeout"] = httpProbe(intstr.FromInt32(int32(hole)), "/")
	tcp := func(port int) *v1.Probe {
		return &v1.Probe{TimeoutSeconds: 1, ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}}
	}
	probes["tcp-ok"] = tcp(port)
	probes["tcp-refused"] = tcp(closedPort(t))
	probes["tcp-timeout"] = tcp(hole)

	var (
		loop, goroutines map[string]string
		lm               *Manager
		wg               sync.WaitGroup
	)
	wg.Add(2)
	go func() { defer wg.Done(); loop, lm = firstResults(t, probes, port) }()
	go func() { defer wg.Done(); goroutines, _ = firstResults(t, probes, port, WithoutNetLoop()) }()
	wg.Wait()
	if t.Failed() {
		return
	}
	lm.mu.Lock()
	for id, inst := range lm.containers {
		if w := inst.workers[Readiness]; w != nil && !w.onLoop {
			t.Errorf("%s: not on the network loop", id)
		}
	}
	lm.mu.Unlock()
	for name := range probes {
		if loop[name] != goroutines[name] {
			t.Errorf("%s:\n  loop:       %s\n  goroutines: %s", name, loop[name], goroutines[name])
		}
	}
	for _, name := range []string{"http-ok", "http-pieces", "http-redirect", "tcp-ok"} {
		if loop[name] != "success" {
			t.Errorf("%s: %s, want success", name, loop[name])
		}
	}
	if testing.Verbose() {
		for name, r := range loop {
			fmt.Printf("%-24s %s\n", name, r)
		}
	}
}

// A probe the loop does not take keeps its worker goroutine.
func TestNetLoopTakesPlainProbesOnly(t *testing.T) {
	tcp := v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(80)}}
	for _, tc := range []struct {
		name string
		h    v1.ProbeHandler
		ip   string
		want bool
	}{
		{"http", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt32(80)}}, "10.0.0.1", true},
		{"tcp", tcp, "10.0.0.1", true},
		{"tcp v6", tcp, "fd00::1", true},
		{"https", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt32(443), Scheme: v1.URISchemeHTTPS}}, "10.0.0.1", false},
		{"host name", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt32(80), Host: "localhost"}}, "10.0.0.1", false},
		{"unknown port", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromString("nope")}}, "10.0.0.1", false},
		{"bad header", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt32(80),
			HTTPHeaders: []v1.HTTPHeader{{Name: "Bad Name", Value: "x"}}}}, "10.0.0.1", false},
		{"grpc", v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: 80}}, "10.0.0.1", false},
		{"exec", v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}, "10.0.0.1", false},
	} {
		p := withDefaults(Readiness, &v1.Probe{ProbeHandler: tc.h})
		if got := planFor(&Target{PodIP: tc.ip, Container: &v1.Container{Name: "c"}}, p) != nil; got != tc.want {
			t.Errorf("%s: on the loop %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The loop makes each socket in its pod's namespace, one round's sockets
// one namespace after the other, and its thread goes back to the agent's.
func TestNetLoopInNetNS(t *testing.T) {
	nsA, lsA := newNetNS(t, 1)
	nsB, lsB := newNetNS(t, 1)
	for _, l := range append(lsA, lsB...) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "inside") }))
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
	}
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "host") }))
	t.Cleanup(host.Close)
	get := func(port int32) *v1.Probe { return httpProbe(intstr.FromInt32(port), "/") }
	probes := map[string]*v1.Probe{
		"a": get(port(lsA[0])), "b": get(port(lsB[0])), "host": get(int32(serverPort(t, host.URL))),
		"a-port-in-b": get(port(lsA[0])), "b-port-in-a": get(port(lsB[0])),
	}
	netNS := map[string]string{"a": nsA, "b": nsB, "a-port-in-b": nsB, "b-port-in-a": nsA}
	if port(lsA[0]) == port(lsB[0]) {
		t.Skip("both namespaces' servers got the same port")
	}
	got, _ := firstResultsIn(t, probes, netNS, 0)
	for _, name := range []string{"a", "b", "host"} {
		if got[name] != "success" {
			t.Errorf("%s: %s, want success", name, got[name])
		}
	}
	for _, name := range []string{"a-port-in-b", "b-port-in-a"} {
		if !strings.Contains(got[name], "connection refused") {
			t.Errorf("%s: %s, want connection refused", name, got[name])
		}
	}
	// The host's own probes still reach the host: no thread stayed behind.
	for i := 0; i < 3; i++ {
		again, _ := firstResultsIn(t, probes, netNS, 0)
		if again["host"] != "success" {
			t.Fatalf("round %d: host probe %s", i, again["host"])
		}
	}
}

// The loop keeps worker.run's schedule: the first probe after
// initialDelaySeconds, one a period on the grid, a late tick probed once
// and counted as missed; the same steps give the same probes on both paths.
func TestNetLoopKeepsTheSchedule(t *testing.T) {
	port := rawServer(t, map[string]string{"/ok": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"})
	for _, loop := range []bool{true, false} {
		t.Run(fmt.Sprint("loop=", loop), func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
			var opts []Option
			if !loop {
				opts = append(opts, WithoutNetLoop())
			}
			m := NewManager(nil, clk, nil, nil, nil, nil, opts...)
			m.rand = func() float64 { return 0 }
			var runs atomic.Int32
			m.SetObserver(func(Observation) { runs.Add(1) })
			p := httpProbe(intstr.FromInt32(int32(port)), "/ok")
			p.PeriodSeconds, p.InitialDelaySeconds = 10, 5
			m.AddContainer(Target{PodUID: "p", PodName: "p", ContainerName: "web", ContainerID: "c", StartedAt: clk.Now(),
				PodIP: "127.0.0.1", Container: &v1.Container{Name: "web", ReadinessProbe: p}})
			defer m.Stop()
			if w := m.containers["c"].workers[Readiness]; w.onLoop != loop {
				t.Fatalf("on the loop: %v, want %v", w.onLoop, loop)
			}
			for i, st := range []struct {
				step time.Duration
				want int32
			}{{4 * time.Second, 0}, {time.Second, 1}, {10 * time.Second, 2}, {9 * time.Second, 2}, {time.Second, 3}, {25 * time.Second, 4}} {
				waitFor(t, 2*time.Second, "a timer armed", clk.HasWaiters)
				clk.Step(st.step)
				if st.want > runs.Load() {
					waitFor(t, 2*time.Second, fmt.Sprintf("step %d: %d probes", i, st.want), func() bool { return runs.Load() >= st.want })
				} else {
					time.Sleep(100 * time.Millisecond)
				}
				if n := runs.Load(); n != st.want {
					t.Fatalf("after step %d (%v): %d probes, want %d", i, clk.Now().Sub(time.Unix(1000, 0)), n, st.want)
				}
			}
			if n := m.Stats().MissedTicks; n != 1 {
				t.Errorf("missed ticks %d, want 1", n)
			}
		})
	}
}

// On the loop as on a goroutine: readiness runs right after the startup
// probe passed, the startup worker ends, and a liveness probe that fails
// failureThreshold times in a row asks for one kill and then holds.
func TestNetLoopStartupReadinessAndKill(t *testing.T) {
	port := rawServer(t, map[string]string{
		"/ok":  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"/bad": "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
	})
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	rec := &recorder{}
	m := NewManager(nil, clk, rec, rec, rec.onChange, nil)
	m.rand = func() float64 { return 0 }
	get := func(path string, period int32) *v1.Probe {
		p := httpProbe(intstr.FromInt32(int32(port)), path)
		p.PeriodSeconds, p.FailureThreshold = period, 2
		return p
	}
	m.AddContainer(Target{PodUID: "p", PodName: "p", ContainerName: "web", ContainerID: "c", StartedAt: clk.Now(), PodIP: "127.0.0.1",
		Container: &v1.Container{Name: "web", StartupProbe: get("/ok", 1), ReadinessProbe: get("/ok", 100), LivenessProbe: get("/bad", 1)}})
	defer m.Stop()
	inst := m.containers["c"]
	for kind, w := range inst.workers {
		if !w.onLoop {
			t.Fatalf("%s worker not on the loop", kind)
		}
	}
	waitFor(t, 2*time.Second, "started and ready without a tick", func() bool { return m.Started("c") && m.Ready("c") })
	select {
	case <-inst.workers[Startup].done:
	case <-time.After(2 * time.Second):
		t.Fatal("the startup worker did not end after its probe passed")
	}
	for i := 0; i < 5; i++ {
		waitFor(t, 2*time.Second, "a timer armed", clk.HasWaiters)
		clk.Step(time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, 2*time.Second, "one kill", func() bool { _, kills, _ := rec.snapshot(); return len(kills) >= 1 })
	time.Sleep(100 * time.Millisecond)
	_, kills, _ := rec.snapshot()
	if len(kills) != 1 || kills[0].message != "Container web failed liveness probe, will be restarted" {
		t.Fatalf("kills %+v, want one for the liveness probe", kills)
	}
}

// Stopping a probe in flight closes its socket at once; once the Manager
// has no probes the loop's goroutine ends, and no descriptor is left.
func TestNetLoopStopClosesAndLeavesNothing(t *testing.T) {
	closed := make(chan time.Time, 4)
	port := serveTCP(t, func(c net.Conn) {
		_, _ = io.Copy(io.Discard, c) // the request, then nothing: until the prober closes
		closed <- time.Now()
	})
	fds := func() int { ents, _ := os.ReadDir("/proc/self/fd"); return len(ents) }
	goroutines, fdsBefore := goruntime.NumGoroutine(), fds()
	m := NewManager(nil, clock.RealClock{}, nil, nil, nil, nil)
	m.rand = func() float64 { return 0 }
	var runs atomic.Int32
	m.SetObserver(func(Observation) { runs.Add(1) })
	p := httpProbe(intstr.FromInt32(int32(port)), "/")
	p.TimeoutSeconds, p.PeriodSeconds = 30, 60
	m.AddContainer(Target{PodUID: "p", PodName: "p", ContainerName: "web", ContainerID: "c", StartedAt: time.Now(), PodIP: "127.0.0.1",
		Container: &v1.Container{Name: "web", ReadinessProbe: p}})
	w := m.containers["c"].workers[Readiness]
	if !w.onLoop {
		t.Fatal("not on the loop")
	}
	time.Sleep(500 * time.Millisecond) // the probe waits for its answer
	stopped := time.Now()
	m.RemoveContainer("c")
	select {
	case at := <-closed:
		if d := at.Sub(stopped); d > time.Second {
			t.Errorf("the connection closed %v after the stop", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the probe's connection was not closed after the stop")
	}
	done := make(chan struct{})
	go func() { m.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	if n := runs.Load(); n != 0 {
		t.Errorf("a stopped probe was observed %d times", n)
	}
	waitFor(t, 2*time.Second, "goroutines and descriptors back", func() bool {
		return goruntime.NumGoroutine() <= goroutines+1 && fds() <= fdsBefore // +1: the server's accept loop
	})
	m.loop.mu.Lock()
	running := m.loop.st != nil
	m.loop.mu.Unlock()
	if running {
		t.Error("the loop still runs with no probes")
	}
}
