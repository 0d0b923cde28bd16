package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilexec "k8s.io/utils/exec"
)

func TestParseExecArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		attach  bool
		want    execArgs
		wantErr string
	}{
		{args: []string{"web", "--", "cat"}, want: execArgs{pod: "web", command: []string{"cat"}}},
		{args: []string{"-it", "web", "-c", "main", "--", "sh", "-c", "exit 3"}, want: execArgs{pod: "web", container: "main", stdin: true, tty: true, command: []string{"sh", "-c", "exit 3"}}},
		{args: []string{"pod/web", "-i", "--", "ls", "-l"}, want: execArgs{pod: "web", stdin: true, command: []string{"ls", "-l"}}},
		{args: []string{"web", "ls"}, want: execArgs{pod: "web", command: []string{"ls"}, warning: "miniagent exec [POD] [COMMAND] is DEPRECATED and will be removed in a future version. Use miniagent exec [POD] -- [COMMAND] instead.\n"}},
		{args: []string{"web"}, wantErr: "you must specify at least one command"},
		{args: []string{"web", "--"}, wantErr: "you must specify at least one command"},
		{args: []string{}, wantErr: "pod is required"},
		{args: []string{"--", "ls"}, wantErr: "pod is required"},
		{args: []string{"web", "extra", "--", "ls"}, wantErr: "only the pod may come before --"},
		{args: []string{"node/x", "--", "ls"}, wantErr: "only pods are supported"},
		{args: []string{"web", "--bogus", "--", "ls"}, wantErr: "unknown flag: --bogus"},
		{args: []string{"web", "-c", "main", "-q"}, attach: true, want: execArgs{pod: "web", container: "main", quiet: true}},
		{args: []string{"web", "more"}, attach: true, wantErr: "expected a single argument"},
	} {
		a := &app{namespace: "default"}
		verb := "exec"
		if tc.attach {
			verb = "attach"
		}
		got, err := a.parseExecArgs(verb, tc.args, !tc.attach)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s %q: error %v, want %q", verb, tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %q = %+v, %v; want %+v", verb, tc.args, got, err, tc.want)
		}
	}
}

func TestParsePortSpecs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    []portSpec
		wantErr string
	}{
		{args: []string{"8080"}, want: []portSpec{{local: 8080, remote: "8080"}}},
		{args: []string{"19600:80", ":443"}, want: []portSpec{{local: 19600, remote: "80"}, {remote: "443"}}},
		{args: []string{"19600:http"}, want: []portSpec{{local: 19600, remote: "http"}}},
		{args: []string{"http"}, wantErr: "a named port needs a local port"},
		{args: []string{"8080:"}, wantErr: "the remote port is missing"},
		{args: []string{"x:80"}, wantErr: `local port "x" is not a number`},
		{args: []string{"70000"}, wantErr: "neither a number between 1 and 65535 nor a port name"},
		{args: []string{"1:0"}, wantErr: "remote port must be > 0"},
		{args: []string{"1:Bad_Name"}, wantErr: "nor a port name"},
		{args: nil, wantErr: "at least 1 PORT is required"},
	} {
		got, err := parsePortSpecs(tc.args)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestResolvePorts(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1.PodSpec{Containers: []v1.Container{
		{Name: "a", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
	}}}
	got, err := resolvePorts(pod, []portSpec{{local: 1, remote: "http"}, {remote: "9"}})
	if err != nil || !reflect.DeepEqual(got, []string{"1:8080", ":9"}) {
		t.Fatalf("resolvePorts = %q, %v", got, err)
	}
	if _, err := resolvePorts(pod, []portSpec{{local: 1, remote: "grpc"}}); err == nil || err.Error() != "pod web does not have a named port 'grpc'" {
		t.Fatalf("unknown port name: %v", err)
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		msg  string
	}{
		{nil, 0, ""},
		{utilexec.CodeExitError{Err: errors.New("command terminated with exit code 3"), Code: 3}, 3, "command terminated with exit code 3\n"},
		{errors.New("unable to upgrade connection: container not found (\"web\")"), 1, "error: unable to upgrade connection: container not found (\"web\")\n"},
	} {
		code, msg := exitCode(tc.err)
		if code != tc.code || msg != tc.msg {
			t.Errorf("exitCode(%v) = %d, %q; want %d, %q", tc.err, code, msg, tc.code, tc.msg)
		}
	}
}

func TestPickContainer(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1.PodSpec{
		InitContainers: []v1.Container{{Name: "init"}},
		Containers:     []v1.Container{{Name: "a"}, {Name: "b"}},
	}}
	if name, note, err := pickContainer(pod, "", false); name != "a" || note != "Defaulted container \"a\" out of: a, b, init (init)\n" || err != nil {
		t.Errorf("default: %q %q %v", name, note, err)
	}
	if _, note, _ := pickContainer(pod, "", true); note != "" {
		t.Errorf("quiet printed %q", note)
	}
	if name, _, err := pickContainer(pod, "b", false); name != "b" || err != nil {
		t.Errorf("-c b: %q %v", name, err)
	}
	if _, _, err := pickContainer(pod, "zz", false); err == nil || err.Error() != "container zz is not valid for pod p" {
		t.Errorf("-c zz: %v", err)
	}
	pod.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "b"}
	if name, note, _ := pickContainer(pod, "", false); name != "b" || note != "" {
		t.Errorf("annotation: %q %q", name, note)
	}
}

func TestParseCpSpec(t *testing.T) {
	for in, want := range map[string]cpSpec{
		"web:/tmp/x": {pod: "web", path: "/tmp/x"},
		"/tmp/a:b":   {path: "/tmp/a:b"},
		"./a:b":      {path: "./a:b"},
		"file":       {path: "file"},
	} {
		if got, err := parseCpSpec(in); err != nil || got != want {
			t.Errorf("parseCpSpec(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "web:", ":x"} {
		if _, err := parseCpSpec(bad); err == nil {
			t.Errorf("parseCpSpec(%q) accepted", bad)
		}
	}
}
