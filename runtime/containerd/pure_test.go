package containerd

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/miniagent/miniagent/runtime"
)

func TestKubeArgv(t *testing.T) {
	ep, cmd := []string{"/entry", "-x"}, []string{"serve", "--port=1"}
	tests := []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"neither: entrypoint + cmd", nil, nil, []string{"/entry", "-x", "serve", "--port=1"}},
		{"command drops entrypoint and cmd", []string{"/bin/sh"}, nil, []string{"/bin/sh"}},
		{"args replace cmd", nil, []string{"run"}, []string{"/entry", "-x", "run"}},
		{"command and args", []string{"/bin/sh", "-c"}, []string{"echo hi"}, []string{"/bin/sh", "-c", "echo hi"}},
		{"empty args clear cmd", nil, []string{}, []string{"/entry", "-x"}},
		{"empty command drops entrypoint and cmd", []string{}, nil, nil},
	}
	for _, tc := range tests {
		if got := KubeArgv(ep, cmd, tc.command, tc.args); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := KubeArgv(nil, []string{"sh"}, nil, []string{"echo", "x"}); !reflect.DeepEqual(got, []string{"echo", "x"}) {
		t.Errorf("no entrypoint, args: %q", got)
	}
}

func TestShimQuery(t *testing.T) {
	if got := ShimQuery([]string{"/bin/miniagent", "crilog-shim"}, "/var/log/pods/x/0.log"); !reflect.DeepEqual(got, map[string]string{"crilog-shim": "/var/log/pods/x/0.log"}) {
		t.Errorf("two-element shim: %v", got)
	}
	if got := ShimQuery([]string{"/bin/shim"}, "/l.log"); !reflect.DeepEqual(got, map[string]string{"/l.log": ""}) {
		t.Errorf("one-element shim: %v", got)
	}
}

func TestOCIMounts(t *testing.T) {
	got := ociMounts([]runtime.Mount{
		{Source: "/host/data", Destination: "/data", Type: "bind", Options: []string{"ro"}},
		{Destination: "/scratch", Type: "tmpfs", Options: []string{"size=1m"}},
		{Source: "/etc/hosts", Destination: "/etc/hosts"},
	})
	want := []specs.Mount{
		{Destination: "/data", Source: "/host/data", Type: "bind", Options: []string{"rbind", "ro"}},
		{Destination: "/scratch", Source: "tmpfs", Type: "tmpfs", Options: []string{"nosuid", "nodev", "size=1m"}},
		{Destination: "/etc/hosts", Source: "/etc/hosts", Type: "bind", Options: []string{"rbind"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestDeriveStatus(t *testing.T) {
	created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	started := created.Add(time.Second)
	exited := created.Add(time.Minute)
	ctr := func(l map[string]string) containers.Container {
		return containers.Container{ID: "c", Image: "img", CreatedAt: created, Labels: l}
	}
	startedL := map[string]string{LabelStartedAt: started.Format(time.RFC3339Nano), LabelCgroupsPath: "/p/c"}
	recorded := map[string]string{LabelStartedAt: started.Format(time.RFC3339Nano), LabelExitCode: "2", LabelFinishedAt: exited.Format(time.RFC3339Nano), LabelOOMKilled: "true"}
	noOOM := func(string) bool { return false }
	oom := func(p string) bool { return p == "/p/c" }
	tests := []struct {
		name   string
		labels map[string]string
		proc   *task.Process
		oom    func(string) bool
		want   runtime.ContainerStatus
	}{
		{"no task, never started", nil, nil, noOOM,
			runtime.ContainerStatus{State: runtime.StateCreated}},
		{"task created", startedL, &task.Process{Status: task.Status_CREATED}, noOOM,
			runtime.ContainerStatus{State: runtime.StateCreated, StartedAt: started}},
		{"running", startedL, &task.Process{Status: task.Status_RUNNING, Pid: 42}, noOOM,
			runtime.ContainerStatus{State: runtime.StateRunning, Pid: 42, StartedAt: started}},
		{"paused counts as running", startedL, &task.Process{Status: task.Status_PAUSED, Pid: 42}, noOOM,
			runtime.ContainerStatus{State: runtime.StateRunning, Pid: 42, StartedAt: started}},
		{"stopped", startedL, &task.Process{Status: task.Status_STOPPED, ExitStatus: 1, ExitedAt: timestamppb.New(exited)}, noOOM,
			runtime.ContainerStatus{State: runtime.StateExited, ExitCode: 1, StartedAt: started, FinishedAt: exited}},
		{"stopped, cgroup saw oom", startedL, &task.Process{Status: task.Status_STOPPED, ExitStatus: 137, ExitedAt: timestamppb.New(exited)}, oom,
			runtime.ContainerStatus{State: runtime.StateExited, ExitCode: 137, StartedAt: started, FinishedAt: exited, OOMKilled: true}},
		{"task gone, exit recorded", recorded, nil, noOOM,
			runtime.ContainerStatus{State: runtime.StateExited, ExitCode: 2, StartedAt: started, FinishedAt: exited, OOMKilled: true}},
		{"task gone, started, nothing recorded", startedL, nil, noOOM,
			runtime.ContainerStatus{State: runtime.StateUnknown, StartedAt: started}},
		{"unknown task status", startedL, &task.Process{Status: task.Status_UNKNOWN}, noOOM,
			runtime.ContainerStatus{State: runtime.StateUnknown, StartedAt: started}},
	}
	for _, tc := range tests {
		got := deriveStatus(ctr(tc.labels), tc.proc, tc.oom)
		tc.want.ID, tc.want.Image, tc.want.CreatedAt, tc.want.Labels = "c", "img", created, tc.labels
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestConvertEvent(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 5, 0, time.UTC)
	envAt := at.Add(time.Second)
	env := func(v any) *events.Envelope {
		a, err := typeurl.MarshalAnyToProto(v)
		if err != nil {
			t.Fatal(err)
		}
		return &events.Envelope{Timestamp: envAt, Namespace: "ns", Topic: "/tasks/x", Event: a}
	}
	tests := []struct {
		name string
		env  *events.Envelope
		want runtime.Event
		ok   bool
	}{
		{"container exit", env(&apievents.TaskExit{ContainerID: "c", ID: "c", ExitStatus: 137, ExitedAt: timestamppb.New(at)}),
			runtime.Event{Type: runtime.EventExit, ContainerID: "c", ExitCode: 137, At: at}, true},
		{"exec exit dropped", env(&apievents.TaskExit{ContainerID: "c", ID: "exec-1", ExitStatus: 0}), runtime.Event{}, false},
		{"oom", env(&apievents.TaskOOM{ContainerID: "c"}), runtime.Event{Type: runtime.EventOOM, ContainerID: "c", At: envAt}, true},
		{"other event", env(&apievents.TaskStart{ContainerID: "c", Pid: 1}), runtime.Event{}, false},
		{"empty", &events.Envelope{}, runtime.Event{}, false},
	}
	for _, tc := range tests {
		got, ok := convertEvent(tc.env)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err               error
		notFound, unavail bool
	}{
		{fmt.Errorf("get: %w", errdefs.ErrNotFound), true, false},
		{fmt.Errorf("dial: %w", errdefs.ErrUnavailable), false, true},
		{errors.New("other"), false, false},
	}
	for _, tc := range tests {
		got := classify(tc.err)
		if errors.Is(got, runtime.ErrNotFound) != tc.notFound || errors.Is(got, runtime.ErrUnavailable) != tc.unavail {
			t.Errorf("classify(%v) = %v", tc.err, got)
		}
		if got.Error()[:len(tc.err.Error())] != tc.err.Error() {
			t.Errorf("classify lost the message: %v", got)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}

func TestCounter(t *testing.T) {
	data := "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
	if n, ok := counter(data, "oom_kill"); !ok || n != 3 {
		t.Fatalf("counter = %d %v", n, ok)
	}
	if _, ok := counter(data, "missing"); ok {
		t.Fatal("found a missing key")
	}
}

func TestTranslateRefName(t *testing.T) {
	for in, want := range map[string]string{
		"latest":              "",
		"busybox:1.36":        "docker.io/library/busybox:1.36",
		"example.com/app:v1":  "example.com/app:v1",
		"docker.io/x/y":       "docker.io/x/y:latest",
		"Invalid Name:latest": "",
	} {
		if got := translateRefName(in); got != want {
			t.Errorf("translateRefName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStartFailureClassification(t *testing.T) {
	for _, tc := range []struct {
		err         string
		unavailable bool
	}{
		{`failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown`, false},
		{"ttrpc: closed: unknown", true},
		{"failed to start shim: context deadline exceeded", true},
	} {
		got := errors.Is(startFailure(errors.New(tc.err)), runtime.ErrUnavailable)
		if got != tc.unavailable {
			t.Errorf("%q: unavailable = %v, want %v", tc.err, got, tc.unavailable)
		}
	}
}
