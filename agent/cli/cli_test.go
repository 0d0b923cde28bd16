package cli

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/api/apitest"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clocktesting "k8s.io/utils/clock/testing"
)

type env struct {
	t    *testing.T
	b    *apitest.Backend
	sock string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := apitest.New()
	sock := filepath.Join(t.TempDir(), "m.sock")
	apitest.Serve(t, api.NewServer(b, slog.New(slog.DiscardHandler)), sock)
	return &env{t: t, b: b, sock: sock}
}

// cli runs one command and returns stdout, stderr and the exit code.
func (e *env) cli(stdin string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	args = append([]string{"--socket", e.sock}, args...)
	rc := run(context.Background(), clocktesting.NewFakePassiveClock(now), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), rc
}

func (e *env) mustRun(args ...string) string {
	e.t.Helper()
	out, errs, rc := e.cli("", args...)
	if rc != 0 {
		e.t.Fatalf("%v: exit %d, stderr %q", args, rc, errs)
	}
	return out
}

func statusPod(name string) *v1.Pod {
	p := testPod(0, 1)
	p.Name = name
	p.Spec.Containers[0].Image = "busybox"
	p.Status.Phase = v1.PodRunning
	p.Status.ContainerStatuses = []v1.ContainerStatus{cs("ca", running(), true, 0)}
	return p
}

func TestGetPodsTable(t *testing.T) {
	e := newEnv(t)
	out, errs, rc := e.cli("", "get", "pods")
	if rc != 0 || out != "" || errs != "No resources found in default namespace.\n" {
		t.Errorf("empty: %d %q %q", rc, out, errs)
	}
	e.b.SetPod(statusPod("web"))
	crash := statusPod("crashing-pod")
	crash.Status.ContainerStatuses[0] = cs("ca", waiting("CrashLoopBackOff"), false, 12)
	crash.Status.ContainerStatuses[0].LastTerminationState = terminated(1, "Error")
	e.b.SetPod(crash)
	other := statusPod("sys")
	other.Namespace = "kube-system"
	e.b.SetPod(other)

	want := "" +
		"NAME           READY   STATUS             RESTARTS       AGE\n" +
		"web            1/1     Running            0              3m2s\n" +
		"crashing-pod   0/1     CrashLoopBackOff   12 (30s ago)   3m2s\n"
	if got := e.mustRun("get", "pods"); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	want = "" +
		"NAMESPACE     NAME           READY   STATUS             RESTARTS       AGE\n" +
		"default       web            1/1     Running            0              3m2s\n" +
		"default       crashing-pod   0/1     CrashLoopBackOff   12 (30s ago)   3m2s\n" +
		"kube-system   sys            1/1     Running            0              3m2s\n"
	if got := e.mustRun("get", "pods", "-A"); got != want {
		t.Errorf("-A table:\n%s\nwant:\n%s", got, want)
	}
	want = "" +
		"NAME   READY   STATUS    RESTARTS   AGE    IP       NODE     NOMINATED NODE   READINESS GATES\n" +
		"sys    1/1     Running   0          3m2s   <none>   <none>   <none>           <none>\n"
	if got := e.mustRun("get", "po", "sys", "-n", "kube-system", "-o", "wide"); got != want {
		t.Errorf("wide:\n%s\nwant:\n%s", got, want)
	}
	if got := e.mustRun("get", "pod/web", "-o", "name"); got != "pod/web\n" {
		t.Errorf("-o name: %q", got)
	}
	_, errs, rc = e.cli("", "get", "pods", "nope")
	if rc != 1 || errs != "Error from server (NotFound): pods \"nope\" not found\n" {
		t.Errorf("missing pod: %d %q", rc, errs)
	}
}

func TestGetPodsFormats(t *testing.T) {
	e := newEnv(t)
	e.b.SetPod(statusPod("web"))
	e.b.SetPod(statusPod("db"))
	got := e.mustRun("get", "pods", "web", "-o", "jsonpath={.status.containerStatuses[*].state}")
	if want := `{"running":{"startedAt":"2024-01-02T03:03:05Z"}}`; got != want {
		t.Errorf("jsonpath state: %q, want %q", got, want)
	}
	got = e.mustRun("get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}")
	if got != "web Running\ndb Running\n" {
		t.Errorf("jsonpath range: %q", got)
	}
	if got := e.mustRun("get", "pods", "web", "-o", "jsonpath={.spec.missing}"); got != "" {
		t.Errorf("missing key: %q", got)
	}
	got = e.mustRun("get", "pods", "web", "-o", "json")
	if !strings.HasPrefix(got, "{\n    \"kind\": \"Pod\",\n    \"apiVersion\": \"v1\",\n") {
		t.Errorf("json:\n%s", got)
	}
	got = e.mustRun("get", "pods", "-o", "yaml")
	for _, want := range []string{"apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n", "kind: List\n", "  name: db\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("yaml lacks %q:\n%s", want, got)
		}
	}
	_, errs, rc := e.cli("", "get", "pods", "-o", "xml")
	if rc != 1 || !strings.HasPrefix(errs, "error: unable to match a printer suitable for the output format \"xml\"") {
		t.Errorf("bad format: %d %q", rc, errs)
	}
}

func TestGetWatch(t *testing.T) {
	e := newEnv(t)
	e.b.SetPod(statusPod("web"))
	ctx, cancel := context.WithCancel(context.Background())
	r, w, _ := os.Pipe()
	done := make(chan int)
	go func() {
		done <- run(ctx, clocktesting.NewFakePassiveClock(now), []string{"--socket", e.sock, "get", "pods", "-w"}, nil, w, w)
		w.Close()
	}()
	// The change is made only after the first state was printed: made
	// between the server's subscribe and its list, it would be the first
	// state itself.
	var buf bytes.Buffer
	br := bufio.NewReader(r)
	for range 2 { // header and first row
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString(line)
	}
	p := statusPod("web")
	p.Status.ContainerStatuses[0] = cs("ca", terminated(0, "Completed"), false, 0)
	e.b.SetPod(p)
	time.Sleep(100 * time.Millisecond)
	cancel()
	if rc := <-done; rc != 0 {
		t.Errorf("exit %d", rc)
	}
	buf.ReadFrom(br)
	want := "" +
		"NAME   READY   STATUS    RESTARTS   AGE\n" +
		"web    1/1     Running   0          3m2s\n" +
		"web    0/1     Completed   0          3m2s\n"
	if buf.String() != want {
		t.Errorf("watch output:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestApply(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	good := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: c\n    image: busybox\n"
	os.WriteFile(filepath.Join(dir, "1-a.yaml"), []byte(good), 0o644)
	os.WriteFile(filepath.Join(dir, "2-b.json"), []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"},"spec":{"containers":[{"name":"c","image":"x"}]}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(good, "image:", "imagee:", 1)), 0o644)

	out, errs, rc := e.cli("", "apply", "-f", dir, "-f", bad)
	if rc != 1 || out != "" || !strings.HasPrefix(errs, "error: ") || !strings.Contains(errs, "imagee") {
		t.Errorf("bad document: %d %q %q", rc, out, errs)
	}
	if n := len(e.b.Applied()); n != 0 {
		t.Fatalf("backend received %d pods although a document was bad", n)
	}
	if got := e.mustRun("apply", "-f", dir); got != "pod/a created\npod/b created\n" {
		t.Errorf("apply dir: %q", got)
	}
	if got := e.mustRun("apply", "-f", filepath.Join(dir, "1-a.yaml")); got != "pod/a unchanged\n" {
		t.Errorf("reapply: %q", got)
	}
	out, errs, rc = e.cli(strings.Replace(good, "busybox", "busybox:2", 1), "apply", "-f", "-")
	if rc != 0 || out != "pod/a configured\n" {
		t.Errorf("stdin apply: %d %q %q", rc, out, errs)
	}
	if got := e.b.Applied()[0].Namespace; got != "default" {
		t.Errorf("namespace sent: %q", got)
	}
	_, errs, rc = e.cli("", "apply", "-f", "/nonexistent.yaml")
	if rc != 1 || errs != "error: the path \"/nonexistent.yaml\" does not exist\n" {
		t.Errorf("missing file: %q", errs)
	}
	e.b.Validate = func(p *v1.Pod) error {
		return apierrors.NewInvalid(v1.SchemeGroupVersion.WithKind("Pod").GroupKind(), p.Name, field.ErrorList{
			field.Required(field.NewPath("spec", "containers").Index(0).Child("image"), ""),
			field.NotSupported(field.NewPath("spec", "restartPolicy"), "Sometimes", []string{"Always", "OnFailure", "Never"}),
		})
	}
	_, errs, rc = e.cli(good, "apply", "-f", "-")
	want := "The Pod \"a\" is invalid: \n* spec.containers[0].image: Required value\n* spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"\n"
	if rc != 1 || errs != want {
		t.Errorf("invalid:\n%q\nwant\n%q", errs, want)
	}
}

func TestFormatError(t *testing.T) {
	gk := v1.SchemeGroupVersion.WithKind("Pod").GroupKind()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{apierrors.NewNotFound(v1.Resource("pods"), "x"), "Error from server (NotFound): pods \"x\" not found\n"},
		{apierrors.NewAlreadyExists(v1.Resource("pods"), "x"), "Error from server (AlreadyExists): pods \"x\" already exists\n"},
		{apierrors.NewBadRequest("nope"), "Error from server (BadRequest): nope\n"},
		{apierrors.NewInvalid(gk, "x", field.ErrorList{field.Required(field.NewPath("spec", "containers").Index(0).Child("image"), "")}),
			"The Pod \"x\" is invalid: spec.containers[0].image: Required value\n"},
		{&api.UnreachableError{Socket: "/s.sock"}, "error: cannot reach miniagent at /s.sock: is the daemon running?\n"},
	} {
		if got := FormatError(tc.err); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestUnreachableCLI(t *testing.T) {
	var out, errb bytes.Buffer
	sock := filepath.Join(t.TempDir(), "none.sock")
	rc := run(context.Background(), clocktesting.NewFakePassiveClock(now), []string{"get", "pods", "--socket", sock}, nil, &out, &errb)
	if rc != 1 || errb.String() != "error: cannot reach miniagent at "+sock+": is the daemon running?\n" {
		t.Errorf("%d %q", rc, errb.String())
	}
}

func TestDeleteAndLogs(t *testing.T) {
	e := newEnv(t)
	e.b.SetPod(statusPod("web"))
	e.b.SetLog("default", "web", "ca", "a\nb\nc\n")
	if got := e.mustRun("logs", "web", "--tail", "2", "-p", "--timestamps"); got != "b\nc\n" {
		t.Errorf("logs: %q", got)
	}
	if o := e.b.LastLogOptions(); !o.Previous || !o.Timestamps || o.Follow || *o.TailLines != 2 {
		t.Errorf("log options %+v", o)
	}
	if got := e.mustRun("logs", "pod/web", "-c", "ca"); got != "a\nb\nc\n" {
		t.Errorf("logs -c: %q", got)
	}
	if got := e.mustRun("delete", "pod", "web", "--grace-period", "3"); got != "pod \"web\" deleted\n" {
		t.Errorf("delete: %q", got)
	}
	_, errs, rc := e.cli("", "delete", "pod", "web", "--wait=false")
	if rc != 1 || errs != "Error from server (NotFound): pods \"web\" not found\n" {
		t.Errorf("delete missing: %d %q", rc, errs)
	}
	d := e.b.Deletes()
	if len(d) != 2 || d[0].GracePeriod == nil || *d[0].GracePeriod != 3 || !d[0].Wait || d[1].GracePeriod != nil || d[1].Wait {
		t.Errorf("deletes: %+v", d)
	}
}

func TestDescribePod(t *testing.T) {
	e := newEnv(t)
	p := statusPod("web")
	prio := int32(0)
	p.Spec.Priority = &prio
	p.Spec.NodeName = "node1"
	p.Status.HostIP = "10.0.0.1"
	start := metav1.NewTime(now.Add(-time.Minute))
	p.Status.StartTime = &start
	p.Labels = map[string]string{"app": "web", "tier": "front"}
	p.Status.PodIP = "10.1.0.5"
	p.Status.PodIPs = []v1.PodIP{{IP: "10.1.0.5"}}
	p.Status.QOSClass = v1.PodQOSBurstable
	p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
	c := &p.Spec.Containers[0]
	c.Command = []string{"sh", "-c"}
	c.Args = []string{"sleep 1000"}
	c.Ports = []v1.ContainerPort{{ContainerPort: 8080, Protocol: v1.ProtocolTCP}}
	c.Resources.Limits = v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")}
	c.Env = []v1.EnvVar{{Name: "MODE", Value: "fast"}}
	c.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080), Scheme: v1.URISchemeHTTP}},
		TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	c.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
		InitialDelaySeconds: 5, TimeoutSeconds: 1, PeriodSeconds: 5, SuccessThreshold: 1, FailureThreshold: 3}
	p.Status.ContainerStatuses[0].ContainerID = "containerd://abc"
	p.Status.ContainerStatuses[0].ImageID = "docker.io/library/busybox@sha256:1"
	p.Status.ContainerStatuses[0].RestartCount = 1
	p.Status.ContainerStatuses[0].LastTerminationState = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{
		ExitCode: 137, Reason: "OOMKilled", StartedAt: ago(2 * time.Minute), FinishedAt: ago(90 * time.Second)}}
	e.b.SetPod(p)
	e.b.SetEvents("default", "web", []v1.Event{
		{Type: "Normal", Reason: "Pulled", Message: "Container image \"busybox\" already present on machine", Source: v1.EventSource{Component: "kubelet"}, FirstTimestamp: ago(2 * time.Minute), LastTimestamp: ago(time.Minute), Count: 2},
		{Type: "Warning", Reason: "Unhealthy", Message: "Liveness probe failed", Source: v1.EventSource{Component: "kubelet"}, FirstTimestamp: ago(5 * time.Second), Count: 1},
	})
	want := `Name:         web
Namespace:    default
Priority:     0
Node:         node1/10.0.0.1
Start Time:   Tue, 02 Jan 2024 03:03:05 +0000
Labels:       app=web
              tier=front
Annotations:  <none>
Status:       Running
IP:           10.1.0.5
IPs:
  IP:  10.1.0.5
Containers:
  ca:
    Container ID:  containerd://abc
    Image:         busybox
    Image ID:      docker.io/library/busybox@sha256:1
    Port:          8080/TCP
    Host Port:     0/TCP
    Command:
      sh
      -c
    Args:
      sleep 1000
    State:          Running
      Started:      Tue, 02 Jan 2024 03:03:05 +0000
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
      Started:      Tue, 02 Jan 2024 03:02:05 +0000
      Finished:     Tue, 02 Jan 2024 03:02:35 +0000
    Ready:          True
    Restart Count:  1
    Limits:
      memory:   64Mi
    Liveness:   http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3
    Readiness:  exec [cat /tmp/healthy] delay=5s timeout=1s period=5s #success=1 #failure=3
    Environment:
      MODE:  fast
    Mounts:  <none>
Conditions:
  Type           Status
  Ready          True 
Volumes:         <none>
QoS Class:       Burstable
Node-Selectors:  <none>
Tolerations:     <none>
Events:
  Type     Reason     Age               From     Message
  ----     ------     ----              ----     -------
  Normal   Pulled     60s (x2 over 2m)  kubelet  Container image "busybox" already present on machine
  Warning  Unhealthy  5s                kubelet  Liveness probe failed
`
	got := e.mustRun("describe", "pod", "web")
	if got != want {
		t.Errorf("describe:\n%s\nwant:\n%s", got, want)
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		for i := range gl {
			if i < len(wl) && gl[i] != wl[i] {
				t.Errorf("first difference at line %d:\n got %q\nwant %q", i+1, gl[i], wl[i])
				break
			}
		}
	}
	_, errs, rc := e.cli("", "describe", "pod", "nope")
	if rc != 1 || errs != "Error from server (NotFound): pods \"nope\" not found\n" {
		t.Errorf("describe missing: %q", errs)
	}
}

func TestNodes(t *testing.T) {
	e := newEnv(t)
	e.b.NodeObj = &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1", CreationTimestamp: ago(49 * time.Hour), Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
		Status: v1.NodeStatus{
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
			NodeInfo:   v1.NodeSystemInfo{KubeletVersion: "v1.33.0-miniagent"},
		},
	}
	want := "NAME    STATUS   ROLES           AGE    VERSION\nnode1   Ready    control-plane   2d1h   v1.33.0-miniagent\n"
	if got := e.mustRun("get", "nodes"); got != want {
		t.Errorf("nodes:\n%s\nwant:\n%s", got, want)
	}
	if got := e.mustRun("get", "node", "node1", "-o", "jsonpath={.metadata.name}"); got != "node1" {
		t.Errorf("node jsonpath: %q", got)
	}
	_, errs, rc := e.cli("", "get", "node", "other")
	if rc != 1 || errs != "Error from server (NotFound): nodes \"other\" not found\n" {
		t.Errorf("other node: %q", errs)
	}
	if got := e.mustRun("describe", "node"); !strings.HasPrefix(got, "Name:               node1\nRoles:              control-plane\n") {
		t.Errorf("describe node:\n%s", got)
	}
}
