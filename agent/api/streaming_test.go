package api

import (
	"net/url"
	"strings"
	"testing"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

func TestStreamOptions(t *testing.T) {
	for _, tc := range []struct {
		q       string
		want    remotecommand.Options
		wantErr string
	}{
		{q: "stdout=true&stderr=true", want: remotecommand.Options{Stdout: true, Stderr: true}},
		{q: "stdin=1&stdout=1&tty=1&stderr=1", want: remotecommand.Options{Stdin: true, Stdout: true, TTY: true}},
		{q: "input=1&output=1&error=1", want: remotecommand.Options{Stdin: true, Stdout: true, Stderr: true}},
		{q: "stdout=false&output=1", want: remotecommand.Options{Stdout: true}},
		{q: "tty=1", wantErr: "at least 1 of stdin, stdout, stderr"},
		{q: "stdout=yes", wantErr: `invalid value "yes" for parameter stdout`},
	} {
		q, _ := url.ParseQuery(tc.q)
		got, err := StreamOptions(q)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.q, err, tc.wantErr)
			}
			continue
		}
		if err != nil || *got != tc.want {
			t.Errorf("%s = %+v, %v; want %+v", tc.q, got, err, tc.want)
		}
	}
}

func TestExitError(t *testing.T) {
	if exitError(0) != nil {
		t.Fatal("exit 0 is an error")
	}
	err := exitError(3)
	if err == nil || err.Error() != "command terminated with exit code 3" {
		t.Fatalf("exitError(3) = %v", err)
	}
}
