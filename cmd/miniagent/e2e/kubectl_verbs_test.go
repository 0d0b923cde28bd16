package e2e

import (
	"bufio"
	"context"
	v1 "k8s.io/api/core/v1"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWaitVerb: `wait` returns as soon as the watch shows the condition,
// prints kubectl's lines, times out with kubectl's message and exit code 1,
// and --for=delete returns once the pod is gone.
func TestWaitVerb(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	apply(t, podYAML("wait-a", "Always", foreverScript))
	apply(t, podYAML("wait-b", "Always", foreverScript))
	start := time.Now()
	out := run(t, "wait", "--for=condition=Ready", "pod/wait-a", "pod/wait-b", "--timeout=60s")
	if out != "pod/wait-a condition met\npod/wait-b condition met\n" {
		t.Errorf("wait Ready: %q", out)
	}
	t.Logf("apply → Ready seen by wait: %v", time.Since(start))
	out = run(t, "wait", "--for=jsonpath='{.status.phase}'=Running", "pods", "wait-a")
	if out != "pod/wait-a condition met\n" {
		t.Errorf("wait jsonpath: %q", out)
	}
	ctx := context.Background()
	stdout, stderr, err := x.cli(ctx, "wait", "--for=condition=Ready=false", "pod/wait-a", "--timeout=500ms")
	if err == nil || !strings.Contains(err.Error(), "exit status 1") || stdout != "" ||
		stderr != "error: timed out waiting for the condition on pods/wait-a\n" {
		t.Errorf("timeout: err %v, stdout %q, stderr %q", err, stdout, stderr)
	}
	done := make(chan string, 1)
	go func() {
		out, _, err := x.cli(ctx, "wait", "--for=delete", "pod/wait-b", "--timeout=60s")
		if err != nil {
			out = err.Error()
		}
		done <- out
	}()
	time.Sleep(300 * time.Millisecond)
	run(t, "delete", "pod", "wait-b", "--wait=false", "--grace-period=1")
	if out := <-done; out != "pod/wait-b condition met\n" {
		t.Errorf("wait --for=delete: %q", out)
	}
}

// TestGetEventsVerb: `get events` shows kubelet's events of a pod in
// kubectl's columns, and `get events -w` streams them as they happen.
func TestGetEventsVerb(t *testing.T) {
	x := e2e(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, x.bin, "--socket", x.socket, "get", "events", "-w", "--field-selector", "involvedObject.name=events-a")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(200 * time.Millisecond) // the watch is open before the pod exists
	apply(t, podYAML("events-a", "Always", foreverScript))
	var seen []string
	started := regexp.MustCompile(`^\S+\s+Normal\s+Started\s+pod/events-a\s+Started container main$`)
	for found := false; !found; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("get events -w ended; saw:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			found = started.MatchString(l)
		case <-ctx.Done():
			t.Fatalf("no Started event streamed; saw:\n%s", strings.Join(seen, "\n"))
		}
	}
	if len(seen) < 2 || !strings.HasPrefix(seen[0], "LAST SEEN   TYPE") {
		t.Errorf("watch output lacks the header first:\n%s", strings.Join(seen, "\n"))
	}
	out := run(t, "get", "events", "--field-selector", "involvedObject.name=events-a")
	rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !regexp.MustCompile(`^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$`).MatchString(rows[0]) {
		t.Errorf("header: %q", rows[0])
	}
	var reasons []string
	for _, r := range rows[1:] {
		f := strings.Fields(r)
		if len(f) < 4 || f[3] != "pod/events-a" {
			t.Errorf("row of another object: %q", r)
			continue
		}
		reasons = append(reasons, f[2])
	}
	if got := strings.Join(reasons, ","); !strings.Contains(got, "Created,Started") {
		t.Errorf("reasons %s, want Created,Started among them:\n%s", got, out)
	}
}

// TestTopVerb: `top pod --containers` reads each container's cgroup: a busy
// loop shows hundreds of millicores, an idle container next to nothing,
// 20 MiB written to a memory-backed emptyDir count in the working set;
// `top node` shows the node with its percentages.
func TestTopVerb(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: top-a
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: shm
    emptyDir: {medium: Memory}
  containers:
  - name: busy
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]
  - name: idle
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "dd if=/dev/zero of=/shm/f bs=1M count=20 2>/dev/null; trap 'exit 0' TERM; while true; do sleep 1; done"]
    volumeMounts:
    - {name: shm, mountPath: /shm}
`)
	run(t, "wait", "--for=condition=Ready", "pod/top-a", "--timeout=60s")
	time.Sleep(time.Second) // the dd has written its file
	start := time.Now()
	out := run(t, "top", "pod", "top-a", "--containers")
	t.Logf("top pod --containers took %v:\n%s", time.Since(start), out)
	rows := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(rows) != 3 || !regexp.MustCompile(`^POD\s+NAME\s+CPU\(cores\)\s+MEMORY\(bytes\)$`).MatchString(rows[0]) {
		t.Fatalf("top pod --containers:\n%s", out)
	}
	cell := regexp.MustCompile(`^top-a\s+(\S+)\s+(\d+)m\s+(\d+)Mi$`)
	use := map[string][2]int{}
	for _, r := range rows[1:] {
		m := cell.FindStringSubmatch(r)
		if m == nil {
			t.Fatalf("row %q", r)
		}
		cpu, _ := strconv.Atoi(m[2])
		mem, _ := strconv.Atoi(m[3])
		use[m[1]] = [2]int{cpu, mem}
	}
	if use["busy"][0] < 200 || use["idle"][0] > 100 {
		t.Errorf("cpu: busy %dm (want ≥ 200m), idle %dm (want ≤ 100m)", use["busy"][0], use["idle"][0])
	}
	if use["idle"][1] < 19 || use["idle"][1] > 100 {
		t.Errorf("memory of the container that wrote 20 MiB to tmpfs: %dMi", use["idle"][1])
	}
	start = time.Now()
	out = run(t, "top", "pod", "top-a")
	t.Logf("second top pod (base reading kept by the agent) took %v", time.Since(start))
	if m := regexp.MustCompile(`(?m)^top-a\s+(\d+)m\s+(\d+)Mi$`).FindStringSubmatch(out); m == nil {
		t.Errorf("top pod:\n%s", out)
	} else if cpu, _ := strconv.Atoi(m[1]); cpu < 200 {
		t.Errorf("top pod cpu %dm, want the busy container's", cpu)
	}
	out = run(t, "top", "node")
	if !regexp.MustCompile(`^NAME\s+CPU\(cores\)\s+CPU\(%\)\s+MEMORY\(bytes\)\s+MEMORY\(%\)\n\S+\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%\n$`).MatchString(out) {
		t.Errorf("top node:\n%s", out)
	}
}

// TestLogsOptions: --since drops older lines, --limit-bytes cuts the
// output, --all-containers --prefix names each line's container.
func TestLogsOptions(t *testing.T) {
	e2e(t)
	t.Parallel()
	apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: logs-opts
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: a
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo early; sleep 3; echo late; trap 'exit 0' TERM; while true; do sleep 1; done"]
  - name: b
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo from-b; trap 'exit 0' TERM; while true; do sleep 1; done"]
`)
	waitPod(t, "logs-opts", 60*time.Second, "late line written", func(*v1.Pod) bool {
		out, _, _ := e2e(t).cli(context.Background(), "logs", "logs-opts", "-c", "a")
		return strings.Contains(out, "late")
	})
	if out := run(t, "logs", "logs-opts", "-c", "a", "--since=2s"); out != "late\n" {
		t.Errorf("--since=2s: %q", out)
	}
	if out := run(t, "logs", "logs-opts", "-c", "a", "--limit-bytes=3"); out != "ear" {
		t.Errorf("--limit-bytes=3: %q", out)
	}
	if out := run(t, "logs", "logs-opts", "--all-containers", "--prefix"); out != "[pod/logs-opts/a] early\n[pod/logs-opts/a] late\n[pod/logs-opts/b] from-b\n" {
		t.Errorf("--all-containers --prefix: %q", out)
	}
}
