package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// The probe tests follow the scenarios of Kubernetes' conformance tests for
// probes (test/e2e/common/node/container_probe.go) with shorter periods:
// liveness restarts for exec, HTTP and TCP probes and probe timeouts, no
// restart while a probe passes, readiness with an initial delay or always
// failing, startup probes that fail, gate liveness, or make the container
// ready at once, the probe-level terminationGracePeriodSeconds, and the
// Unhealthy / Killing events `describe` shows.

// probePod is a one-container busybox pod whose container runs script and
// has the given probe YAML (indented for the container level, e.g.
// "    livenessProbe:\n      exec: ..."). podExtra is added under spec.
func probePod(name, script, probes, podExtra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Always
%s  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
%s`, name, podExtra, script, probes)
}

// execProbe is the YAML of a probe of the given kind ("livenessProbe", ...)
// running cmd in the container.
func execProbe(kind, cmd string, initialDelay, period, timeout, failureThreshold int) string {
	return fmt.Sprintf(`    %s:
      exec:
        command: ["sh", "-c", %q]
      initialDelaySeconds: %d
      periodSeconds: %d
      timeoutSeconds: %d
      failureThreshold: %d
`, kind, cmd, initialDelay, period, timeout, failureThreshold)
}

// forever ends every container script: run until SIGTERM, then exit 0.
const forever = `trap 'exit 0' TERM; while true; do sleep 1; done`

// httpdScript serves /www on port 8080 with busybox httpd; /www/healthz exists.
const httpdScript = `mkdir -p /www && echo ok >/www/healthz && httpd -p 8080 -h /www; `

// restartCount is the restart count of container main (-1 if there is none).
func restartCount(p *v1.Pod) int32 {
	if cs := containerStatus(p, "main"); cs != nil {
		return cs.RestartCount
	}
	return -1
}

// waitRestarts waits until container main has restarted at least n times and
// fails the test if the restart count ever goes down on the way.
func waitRestarts(t *testing.T, name string, n int32, timeout time.Duration) *v1.Pod {
	t.Helper()
	last := int32(0)
	return waitPod(t, name, timeout, fmt.Sprintf("restarted %d times", n), func(p *v1.Pod) bool {
		c := restartCount(p)
		if c < last {
			t.Errorf("restartCount went down from %d to %d", last, c)
		}
		if c > last {
			last = c
		}
		return c >= n
	})
}

// holdFor polls the pod for d and fails the test the first time check
// returns an error.
func holdFor(t *testing.T, name string, d time.Duration, check func(*v1.Pod) error) *v1.Pod {
	t.Helper()
	deadline := time.Now().Add(d)
	var pod *v1.Pod
	for time.Now().Before(deadline) {
		pod = getPod(t, name)
		if err := check(pod); err != nil {
			t.Fatalf("pod %s: %v\nstatus: %+v", name, err, pod.Status)
		}
		time.Sleep(300 * time.Millisecond)
	}
	return pod
}

func noRestart(p *v1.Pod) error {
	if c := restartCount(p); c != 0 {
		return fmt.Errorf("restartCount %d, want 0", c)
	}
	return nil
}

// wantEvents fails the test unless `describe pod` lists, for each pair, an
// event line with that reason and a message containing the text.
func wantEvents(t *testing.T, name string, reasonAndText ...string) {
	t.Helper()
	out := run(t, "describe", "pod", name)
	_, events, _ := strings.Cut(out, "Events:")
	for i := 0; i+1 < len(reasonAndText); i += 2 {
		reason, text := reasonAndText[i], reasonAndText[i+1]
		found := false
		for _, line := range strings.Split(events, "\n") {
			if strings.Contains(line, " "+reason+" ") && strings.Contains(line, text) {
				found = true
			}
		}
		if !found {
			t.Errorf("describe pod %s: no %s event with %q in:\n%s", name, reason, text, events)
		}
	}
}

// TestProbeLivenessRestarts: a liveness probe that passes at first and then
// fails restarts the container, not before it starts failing, with the
// kubelet's events.
func TestProbeLivenessRestarts(t *testing.T) {
	e2e(t)
	t.Parallel()
	tests := []struct {
		name, script, probe string
		healthyFor          time.Duration // the probe passes at least this long
		event               string        // expected in the Unhealthy event
	}{{
		name:       "probe-live-exec",
		script:     `echo ok >/tmp/health; sleep 3; rm -f /tmp/health; ` + forever,
		probe:      execProbe("livenessProbe", "cat /tmp/health", 1, 1, 1, 1),
		healthyFor: 3 * time.Second,
		event:      "Liveness probe failed: cat: can't open '/tmp/health'",
	}, {
		name:   "probe-live-http",
		script: httpdScript + `sleep 4; rm -f /www/healthz; ` + forever,
		probe: `    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
`,
		healthyFor: 4 * time.Second,
		event:      "Liveness probe failed: HTTP probe failed with statuscode: 404",
	}, {
		name:   "probe-live-tcp",
		script: httpdScript + `sleep 4; killall httpd; ` + forever,
		probe: `    livenessProbe:
      tcpSocket: {port: 8080}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 1
`,
		healthyFor: 4 * time.Second,
		event:      "connection refused",
	}, {
		name:       "probe-live-exec-timeout",
		script:     forever,
		probe:      execProbe("livenessProbe", "sleep 10", 1, 1, 1, 1),
		healthyFor: 1 * time.Second,
		event:      `Liveness probe failed: command "sh -c sleep 10" timed out`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			apply(t, probePod(tc.name, tc.script, tc.probe, ""))
			pod := waitRestarts(t, tc.name, 1, 60*time.Second)
			cs := containerStatus(pod, "main")
			last := cs.LastTerminationState.Terminated
			if last == nil {
				t.Fatalf("restarted, but lastState %+v has no termination", cs.LastTerminationState)
			}
			// Status times have second resolution.
			if ran := last.FinishedAt.Sub(last.StartedAt.Time); ran < tc.healthyFor-time.Second {
				t.Errorf("first instance ran %v, but the probe passes for %v", ran, tc.healthyFor)
			}
			if ran := last.FinishedAt.Sub(last.StartedAt.Time); ran > tc.healthyFor+15*time.Second {
				t.Errorf("first instance ran %v: the kill came late", ran)
			}
			wantEvents(t, tc.name,
				"Unhealthy", tc.event,
				"Killing", "Container main failed liveness probe, will be restarted")
		})
	}
}

// TestProbeLivenessPassingNoRestart: passing exec, HTTP and TCP liveness
// probes with a 1 s period and failureThreshold 1 never restart the container.
func TestProbeLivenessPassingNoRestart(t *testing.T) {
	e2e(t)
	t.Parallel()
	tests := []struct{ name, script, probe string }{{
		name:   "probe-ok-exec",
		script: `echo ok >/tmp/health; ` + forever,
		probe:  execProbe("livenessProbe", "cat /tmp/health", 1, 1, 1, 1),
	}, {
		name:   "probe-ok-http",
		script: httpdScript + forever,
		probe:  "    livenessProbe:\n      httpGet: {path: /healthz, port: 8080}\n      initialDelaySeconds: 1\n      periodSeconds: 1\n      failureThreshold: 1\n",
	}, {
		name:   "probe-ok-tcp",
		script: httpdScript + forever,
		probe:  "    livenessProbe:\n      tcpSocket: {port: 8080}\n      initialDelaySeconds: 1\n      periodSeconds: 1\n      failureThreshold: 1\n",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			apply(t, probePod(tc.name, tc.script, tc.probe, ""))
			waitPod(t, tc.name, 60*time.Second, "running", running)
			holdFor(t, tc.name, 12*time.Second, func(p *v1.Pod) error {
				if !running(p) {
					return fmt.Errorf("not running")
				}
				return noRestart(p)
			})
			out := run(t, "describe", "pod", tc.name)
			if strings.Contains(out, "Unhealthy") || strings.Contains(out, "Killing") {
				t.Errorf("a passing probe made events:\n%s", out)
			}
		})
	}
}

// TestProbeRestartCountIncreases: an always failing liveness probe restarts
// the container again and again; the count only goes up (with the crash-loop
// back-off between restarts).
func TestProbeRestartCountIncreases(t *testing.T) {
	e2e(t)
	t.Parallel()
	const name = "probe-live-always-fail"
	apply(t, probePod(name, forever, execProbe("livenessProbe", "false", 1, 1, 1, 1), ""))
	waitRestarts(t, name, 3, 90*time.Second)
}

// TestProbeReadiness: a readiness probe makes the pod Ready no earlier than
// initialDelaySeconds after the container started and never restarts it; a
// readiness probe that always fails never makes it Ready.
func TestProbeReadiness(t *testing.T) {
	e2e(t)
	t.Parallel()
	t.Run("probe-ready-delay", func(t *testing.T) {
		t.Parallel()
		const name, delay = "probe-ready-delay", 5
		apply(t, probePod(name, `echo ok >/tmp/health; `+forever, execProbe("readinessProbe", "cat /tmp/health", delay, 1, 1, 1), ""))
		pod := waitPod(t, name, 60*time.Second, "running", running)
		if containerStatus(pod, "main").Ready {
			t.Errorf("ready right after the start, initialDelaySeconds is %d", delay)
		}
		pod = waitPod(t, name, 60*time.Second, "Ready", func(p *v1.Pod) bool {
			c := condition(p, v1.PodReady)
			return c != nil && c.Status == v1.ConditionTrue
		})
		started := containerStatus(pod, "main").State.Running.StartedAt.Time
		readyAt := condition(pod, v1.PodReady).LastTransitionTime.Time
		if d := readyAt.Sub(started); d < delay*time.Second {
			t.Errorf("Ready %v after the container started, initialDelaySeconds is %d", d, delay)
		}
		checkCondition(t, pod, v1.ContainersReady, v1.ConditionTrue, "")
		holdFor(t, name, 5*time.Second, func(p *v1.Pod) error {
			if !containerStatus(p, "main").Ready {
				return fmt.Errorf("no longer ready")
			}
			return noRestart(p)
		})
	})
	t.Run("probe-ready-never", func(t *testing.T) {
		t.Parallel()
		const name = "probe-ready-never"
		apply(t, probePod(name, forever, execProbe("readinessProbe", "false", 0, 1, 1, 1), ""))
		waitPod(t, name, 60*time.Second, "running", running)
		pod := holdFor(t, name, 12*time.Second, func(p *v1.Pod) error {
			if c := condition(p, v1.PodReady); c == nil || c.Status != v1.ConditionFalse {
				return fmt.Errorf("Ready condition %+v, want False", c)
			}
			if containerStatus(p, "main").Ready {
				return fmt.Errorf("container ready")
			}
			return noRestart(p)
		})
		checkCondition(t, pod, v1.PodReady, v1.ConditionFalse, "ContainersNotReady")
		wantEvents(t, name, "Unhealthy", "Readiness probe failed")
	})
}

// TestProbeStartup: a failing startup probe restarts the container; a
// startup probe that has not succeeded holds off a failing liveness probe,
// which restarts the container once startup succeeds; readiness follows a
// successful startup probe at once, without waiting for its own period.
func TestProbeStartup(t *testing.T) {
	e2e(t)
	t.Parallel()
	t.Run("probe-startup-fail", func(t *testing.T) {
		t.Parallel()
		const name = "probe-startup-fail"
		apply(t, probePod(name, forever, execProbe("startupProbe", "false", 0, 1, 1, 2), ""))
		pod := waitRestarts(t, name, 1, 60*time.Second)
		if s := containerStatus(pod, "main").Started; s != nil && *s {
			t.Errorf("started = true, the startup probe always fails")
		}
		wantEvents(t, name,
			"Unhealthy", "Startup probe failed",
			"Killing", "Container main failed startup probe, will be restarted")
	})
	t.Run("probe-startup-gates-liveness", func(t *testing.T) {
		t.Parallel()
		const name = "probe-startup-gates-liveness"
		probes := execProbe("livenessProbe", "false", 0, 1, 1, 1) +
			execProbe("startupProbe", "cat /tmp/startup", 0, 1, 1, 60)
		apply(t, probePod(name, `sleep 8; touch /tmp/startup; `+forever, probes, ""))
		waitPod(t, name, 60*time.Second, "running", running)
		holdFor(t, name, 5*time.Second, func(p *v1.Pod) error {
			if s := containerStatus(p, "main").Started; s != nil && *s {
				return fmt.Errorf("started before /tmp/startup exists")
			}
			return noRestart(p)
		})
		pod := waitRestarts(t, name, 1, 60*time.Second)
		last := containerStatus(pod, "main").LastTerminationState.Terminated
		if last == nil {
			t.Fatalf("no lastState.terminated: %+v", containerStatus(pod, "main"))
		}
		if ran := last.FinishedAt.Sub(last.StartedAt.Time); ran < 7*time.Second {
			t.Errorf("killed after %v, before the startup probe could succeed (8 s)", ran)
		}
		wantEvents(t, name, "Killing", "Container main failed liveness probe, will be restarted")
	})
	t.Run("probe-startup-then-ready", func(t *testing.T) {
		t.Parallel()
		const name = "probe-startup-then-ready"
		// Readiness period 60 s: only the trigger after startup can make it
		// ready within the test's bounds.
		probes := execProbe("readinessProbe", "cat /tmp/health", 0, 60, 1, 1) +
			execProbe("startupProbe", "cat /tmp/startup", 0, 1, 1, 60)
		apply(t, probePod(name, `echo ok >/tmp/health; sleep 3; touch /tmp/startup; `+forever, probes, ""))
		var startedSeen time.Time
		pod := waitPod(t, name, 60*time.Second, "Ready", func(p *v1.Pod) bool {
			cs := containerStatus(p, "main")
			if cs == nil {
				return false
			}
			if s := cs.Started; s != nil && *s && startedSeen.IsZero() {
				startedSeen = time.Now()
			}
			return cs.Ready
		})
		if !startedSeen.IsZero() {
			if d := time.Since(startedSeen); d > 3*time.Second {
				t.Errorf("ready %v after started was seen", d)
			}
		}
		started := containerStatus(pod, "main").State.Running.StartedAt.Time
		readyAt := condition(pod, v1.PodReady).LastTransitionTime.Time
		if d := readyAt.Sub(started); d < 2*time.Second || d > 10*time.Second {
			t.Errorf("Ready %v after the container started, want about 3-5 s (startup at 3 s, readiness period 60 s)", d)
		}
		if restartCount(pod) != 0 {
			t.Errorf("restartCount %d, want 0", restartCount(pod))
		}
	})
}

// TestProbeTerminationGracePeriod: a liveness probe's own
// terminationGracePeriodSeconds (3) overrides the pod's (600), so a container
// that ignores SIGTERM is killed and restarted within seconds.
func TestProbeTerminationGracePeriod(t *testing.T) {
	e2e(t)
	t.Parallel()
	const name = "probe-grace-override"
	probe := execProbe("livenessProbe", "false", 2, 1, 1, 1) + "      terminationGracePeriodSeconds: 3\n"
	apply(t, probePod(name, `trap '' TERM; while true; do sleep 1; done`, probe, "  terminationGracePeriodSeconds: 600\n"))
	pod := waitRestarts(t, name, 1, 40*time.Second)
	cs := containerStatus(pod, "main")
	last := cs.LastTerminationState.Terminated
	if last == nil {
		t.Fatalf("no lastState.terminated: %+v", cs)
	}
	if last.ExitCode != 137 || last.Reason != "Error" {
		t.Errorf("lastState exitCode %d reason %q, want 137 Error (SIGKILL after the grace period)", last.ExitCode, last.Reason)
	}
	// First probe at 2 s, then 3 s of grace: killed after about 5 s.
	if ran := last.FinishedAt.Sub(last.StartedAt.Time); ran < 4*time.Second || ran > 15*time.Second {
		t.Errorf("first instance ran %v, want about 5 s (probe at 2 s + 3 s grace)", ran)
	}
	wantEvents(t, name, "Killing", "Container main failed liveness probe, will be restarted")
}
