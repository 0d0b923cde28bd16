package cli

import "testing"

func TestLabelAndAnnotatePod(t *testing.T) {
	e := newEnv(t)
	p := statusPod("web")
	p.Labels = map[string]string{"app": "web"}
	p.Annotations = map[string]string{"note": "a"}
	e.b.SetPod(p)
	for _, tc := range []struct {
		args             []string
		stdout, stderr   string
		rc               int
		labels, annotate map[string]string // after the command
	}{
		{[]string{"label", "pod", "web", "tier=front"}, "pod/web labeled\n", "", 0,
			map[string]string{"app": "web", "tier": "front"}, map[string]string{"note": "a"}},
		{[]string{"label", "pods", "web", "app=other"}, "", "error: 'app' already has a value (web), and --overwrite is false\n", 1,
			map[string]string{"app": "web", "tier": "front"}, nil},
		{[]string{"label", "pod/web", "app=other", "--overwrite"}, "pod/web labeled\n", "", 0,
			map[string]string{"app": "other", "tier": "front"}, nil},
		{[]string{"label", "pod", "web", "tier-"}, "pod/web unlabeled\n", "", 0,
			map[string]string{"app": "other"}, nil},
		{[]string{"label", "pod", "web", "app=other"}, "pod/web not labeled\n", "", 0,
			map[string]string{"app": "other"}, nil},
		{[]string{"label", "pod", "web", "gone-"}, "label \"gone\" not found.\npod/web not labeled\n", "", 0, nil, nil},
		{[]string{"label", "pod", "nope", "a=b"}, "", "Error from server (NotFound): pods \"nope\" not found\n", 1, nil, nil},
		{[]string{"annotate", "pod", "web", "desc=a=b c"}, "pod/web annotated\n", "", 0,
			nil, map[string]string{"note": "a", "desc": "a=b c"}},
		{[]string{"annotate", "pod", "web", "note=b"}, "", "error: --overwrite is false but found the following declared annotation(s): 'note' already has a value (a)\n", 1,
			nil, map[string]string{"note": "a", "desc": "a=b c"}},
		{[]string{"annotate", "pod", "web", "note=b", "--overwrite", "desc-"}, "pod/web annotated\n", "", 0,
			nil, map[string]string{"note": "b"}},
		{[]string{"annotate", "node", "node1", "a=b"}, "", "error: miniagent can only annotate pods, not nodes\n", 1, nil, nil},
		{[]string{"annotate", "pod", "web"}, "", "error: at least one annotation update is required\n", 1, nil, nil},
	} {
		out, errs, rc := e.cli("", tc.args...)
		if out != tc.stdout || errs != tc.stderr || rc != tc.rc {
			t.Errorf("%v: %q %q %d, want %q %q %d", tc.args, out, errs, rc, tc.stdout, tc.stderr, tc.rc)
		}
		got, _ := e.b.GetPod(t.Context(), "default", "web")
		if tc.labels != nil && !equalMaps(got.Labels, tc.labels) {
			t.Errorf("%v: labels %v, want %v", tc.args, got.Labels, tc.labels)
		}
		if tc.annotate != nil && !equalMaps(got.Annotations, tc.annotate) {
			t.Errorf("%v: annotations %v, want %v", tc.args, got.Annotations, tc.annotate)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
