package main

import "testing"

func TestIsDaemonVerb(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"daemon"}, true},
		{[]string{"daemon", "--root-dir", "/x"}, true},
		{[]string{"crilog-shim", "--path", "x"}, true},
		{[]string{"kubeconfig", "--root-dir", "/x"}, true},
		{[]string{"image", "import", "a.tar"}, true},
		{[]string{"image"}, false},
		{[]string{"image", "ls"}, false},
		{[]string{"image", "pull", "import"}, false},
		{[]string{"get", "pods"}, false},
		{[]string{"get", "daemon"}, false},
		{[]string{"--socket", "s", "get", "pods"}, false},
		{[]string{"--help"}, false},
	}
	for _, tt := range tests {
		if got := isDaemonVerb(tt.args); got != tt.want {
			t.Errorf("isDaemonVerb(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
