package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

// The gRPC probe tests run testdata/grpchealth, a grpc.health.v1 server
// built statically here, in a busybox container that gets the binary
// through a read-only hostPath volume at /opt/grpc.

// buildGRPCHealth builds testdata/grpchealth into a new directory and
// returns the directory.
func buildGRPCHealth(t *testing.T, x *harness) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "grpchealth"), "./cmd/miniagent/e2e/testdata/grpchealth")
	cmd.Dir = x.repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build grpchealth: %v\n%s", err, out)
	}
	t.Logf("built grpchealth in %v", time.Since(start).Round(time.Millisecond))
	return dir
}

// grpcPod is probePod with the grpchealth directory mounted at /opt/grpc.
func grpcPod(name, binDir, script, probes string) string {
	volumes := fmt.Sprintf("  volumes:\n  - name: grpc\n    hostPath: {path: %s, type: Directory}\n", binDir)
	mounts := "    volumeMounts:\n    - {name: grpc, mountPath: /opt/grpc, readOnly: true}\n"
	return probePod(name, script, mounts+probes, volumes)
}

// grpcProbe is the YAML of a gRPC probe of the given kind on port, with
// service unless it is "".
func grpcProbe(kind string, port int, service string, initialDelay, period, failureThreshold int) string {
	svc := ""
	if service != "" {
		svc = fmt.Sprintf(", service: %q", service)
	}
	return fmt.Sprintf(`    %s:
      grpc: {port: %d%s}
      initialDelaySeconds: %d
      periodSeconds: %d
      timeoutSeconds: 1
      failureThreshold: %d
`, kind, port, svc, initialDelay, period, failureThreshold)
}

func podReady(p *v1.Pod) bool {
	c := condition(p, v1.PodReady)
	return c != nil && c.Status == v1.ConditionTrue
}

// TestProbeGRPC: a gRPC readiness probe against a serving health server
// makes the pod Ready, and NotReady again (without a restart) once the
// server stops serving; a gRPC liveness probe on a named service that turns
// NOT_SERVING restarts the container with the kubelet's Unhealthy event; a
// gRPC probe on a port nothing listens on, or for a service the server does
// not know, never makes the pod Ready.
func TestProbeGRPC(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	bin := buildGRPCHealth(t, x)

	t.Run("probe-grpc-ready", func(t *testing.T) {
		t.Parallel()
		const name = "probe-grpc-ready"
		// initialDelaySeconds 2: the server needs a moment to listen, and a
		// probe before that fails (and records Unhealthy) as in kubelet.
		apply(t, grpcPod(name, bin, `exec /opt/grpc/grpchealth -port 9090`,
			grpcProbe("readinessProbe", 9090, "", 2, 1, 1)))
		pod := waitPod(t, name, 30*time.Second, "Ready", podReady)
		checkCondition(t, pod, v1.ContainersReady, v1.ConditionTrue, "")
		holdFor(t, name, 3*time.Second, func(p *v1.Pod) error {
			if !containerStatus(p, "main").Ready {
				return fmt.Errorf("no longer ready")
			}
			return noRestart(p)
		})
		if out := run(t, "describe", "pod", name); strings.Contains(out, "Unhealthy") {
			t.Errorf("a passing gRPC probe made an Unhealthy event:\n%s", out)
		}
	})

	t.Run("probe-grpc-ready-then-not", func(t *testing.T) {
		t.Parallel()
		const name = "probe-grpc-ready-then-not"
		// SIGUSR1 after 6 s turns every service NOT_SERVING.
		script := `trap 'exit 0' TERM; /opt/grpc/grpchealth -port 9090 & sleep 6; kill -USR1 $!; ` + forever
		apply(t, grpcPod(name, bin, script, grpcProbe("readinessProbe", 9090, "", 0, 1, 1)))
		waitPod(t, name, 30*time.Second, "Ready", podReady)
		pod := waitPod(t, name, 30*time.Second, "no longer Ready", func(p *v1.Pod) bool { return !podReady(p) })
		checkCondition(t, pod, v1.PodReady, v1.ConditionFalse, "ContainersNotReady")
		if !running(pod) {
			t.Errorf("a failing readiness probe stopped the container: %+v", pod.Status)
		}
		if err := noRestart(pod); err != nil {
			t.Errorf("a failing readiness probe: %v", err)
		}
		wantEvents(t, name, "Unhealthy", `Readiness probe failed: service unhealthy (responded with "NOT_SERVING")`)
	})

	t.Run("probe-grpc-live-not-serving", func(t *testing.T) {
		t.Parallel()
		const name = "probe-grpc-live-not-serving"
		// "svc" serves while /tmp/ok exists: for about 5 s. The trap comes
		// first so a kill is quick at any time; the first probe waits 2 s
		// for the server to listen (a refused connection fails too).
		script := `trap 'exit 0' TERM; touch /tmp/ok; /opt/grpc/grpchealth -port 9090 -service svc -ok-file /tmp/ok & sleep 5; rm -f /tmp/ok; ` + forever
		apply(t, grpcPod(name, bin, script, grpcProbe("livenessProbe", 9090, "svc", 2, 1, 1)))
		pod := waitRestarts(t, name, 1, 45*time.Second)
		cs := containerStatus(pod, "main")
		last := cs.LastTerminationState.Terminated
		if last == nil {
			t.Fatalf("restarted, but lastState %+v has no termination", cs.LastTerminationState)
		}
		// Status times have second resolution.
		if ran := last.FinishedAt.Sub(last.StartedAt.Time); ran < 4*time.Second || ran > 20*time.Second {
			t.Errorf("first instance ran %v, want a kill soon after the service stops serving at 5 s", ran)
		}
		wantEvents(t, name,
			"Unhealthy", `Liveness probe failed: service unhealthy (responded with "NOT_SERVING")`,
			"Killing", "Container main failed liveness probe, will be restarted")
	})

	// Never Ready: nothing listens on the probed port (the server is on
	// 9090), or the server does not know the service.
	never := []struct{ name, probe, event string }{{
		name:  "probe-grpc-nothing-listening",
		probe: grpcProbe("readinessProbe", 9091, "", 0, 1, 1),
		event: "Readiness probe failed: timeout: failed to connect service",
	}, {
		name:  "probe-grpc-unknown-service",
		probe: grpcProbe("readinessProbe", 9090, "nosuch", 0, 1, 1),
		event: "Readiness probe failed: error: health rpc probe failed: rpc error: code = NotFound desc = unknown service",
	}}
	for _, tc := range never {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			apply(t, grpcPod(tc.name, bin, `exec /opt/grpc/grpchealth -port 9090`, tc.probe))
			waitPod(t, tc.name, 30*time.Second, "running", running)
			pod := holdFor(t, tc.name, 8*time.Second, func(p *v1.Pod) error {
				if podReady(p) || containerStatus(p, "main").Ready {
					return fmt.Errorf("ready, but the gRPC probe cannot succeed")
				}
				return noRestart(p)
			})
			checkCondition(t, pod, v1.PodReady, v1.ConditionFalse, "ContainersNotReady")
			wantEvents(t, tc.name, "Unhealthy", tc.event)
		})
	}
}
