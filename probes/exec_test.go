package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/miniagent/miniagent/runtime"
)

// fakeExecer records the call and answers with a fixed result.
type fakeExecer struct {
	res     runtime.ExecResult
	err     error
	gotID   string
	gotCmd  []string
	gotTime time.Duration
	gotMax  int
}

func (e *fakeExecer) Exec(_ context.Context, id string, cmd []string, timeout time.Duration, maxOut int) (runtime.ExecResult, error) {
	e.gotID, e.gotCmd, e.gotTime, e.gotMax = id, cmd, timeout, maxOut
	return e.res, e.err
}

func TestExecProbe(t *testing.T) {
	long := strings.Repeat("x", maxOutput+100)
	tests := []struct {
		name    string
		res     runtime.ExecResult
		err     error
		want    outcome
		wantMsg string
		wantErr bool
	}{
		{"exit 0", runtime.ExecResult{ExitCode: 0, Output: []byte("fine\n")}, nil, outcomeSuccess, "fine\n", false},
		{"exit 1", runtime.ExecResult{ExitCode: 1, Output: []byte("cat: /tmp/healthy: No such file\n")}, nil, outcomeFailure, "cat: /tmp/healthy: No such file\n", false},
		{"timeout", runtime.ExecResult{}, fmt.Errorf("exec in %q: %w", "cid1", runtime.ErrExecTimeout), outcomeFailure, `command "sh -c sleep 5" timed out`, false},
		{"runtime error", runtime.ExecResult{}, runtime.ErrNotFound, 0, "", true},
		{"output capped", runtime.ExecResult{ExitCode: 1, Output: []byte(long)}, nil, outcomeFailure, long[:maxOutput], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &fakeExecer{res: tc.res, err: tc.err}
			h := &handlers{exec: e}
			target := &Target{ContainerID: "cid1", Container: &v1.Container{Name: "web"}}
			p := &v1.Probe{TimeoutSeconds: 3, ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", "sleep 5"}}}}
			out, msg, err := h.probe(context.Background(), Liveness, target, p)
			if (err != nil) != tc.wantErr || out != tc.want || msg != tc.wantMsg {
				t.Fatalf("got (%v, %q, %v), want (%v, %q, err=%v)", out, msg, err, tc.want, tc.wantMsg, tc.wantErr)
			}
			if e.gotID != "cid1" || e.gotTime != 3*time.Second || e.gotMax != maxOutput {
				t.Fatalf("exec called with id %q timeout %v max %d", e.gotID, e.gotTime, e.gotMax)
			}
		})
	}
}

func TestExecExpandsEnv(t *testing.T) {
	e := &fakeExecer{}
	h := &handlers{exec: e}
	c := &v1.Container{Name: "web", Env: []v1.EnvVar{
		{Name: "FILE", Value: "/tmp/ok"},
		{Name: "FROM", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}}
	p := &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "$(FILE)", "$(FROM)", "$$(FILE)", "$(NOPE)", "a$b"}}}}
	if _, _, err := h.probe(context.Background(), Readiness, &Target{ContainerID: "c", Container: c}, p); err != nil {
		t.Fatal(err)
	}
	want := []string{"cat", "/tmp/ok", "$(FROM)", "$(FILE)", "$(NOPE)", "a$b"}
	if strings.Join(e.gotCmd, "|") != strings.Join(want, "|") {
		t.Fatalf("cmd = %q, want %q", e.gotCmd, want)
	}
}

func TestMissingHandler(t *testing.T) {
	h := &handlers{exec: &fakeExecer{}}
	_, _, err := h.probe(context.Background(), Liveness, &Target{ContainerName: "web"}, &v1.Probe{})
	if err == nil {
		t.Fatal("a probe without handler should error")
	}
	var nilExec handlers
	_, _, err = nilExec.probe(context.Background(), Liveness, &Target{}, &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}})
	if err == nil || errors.Is(err, runtime.ErrExecTimeout) {
		t.Fatalf("exec without Execer: err = %v", err)
	}
}
