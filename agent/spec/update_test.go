package spec

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func updateBase() *v1.Pod {
	ads := int64(600)
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default", Labels: map[string]string{"app": "x"}},
		Spec: v1.PodSpec{
			InitContainers:        []v1.Container{{Name: "init", Image: "busybox"}},
			Containers:            []v1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox", Command: []string{"sleep", "1"}}},
			ActiveDeadlineSeconds: &ads,
			Tolerations:           []v1.Toleration{{Key: "k", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoExecute}},
		},
	}
	SetDefaults(p)
	return p
}

func TestValidatePodUpdate(t *testing.T) {
	const forbidden = "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
	i64 := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		name    string
		change  func(p *v1.Pod)
		wantErr string // prefix of the only error; "" = allowed
		diff    string // a line the diff must show
	}{
		{name: "nothing", change: func(p *v1.Pod) {}},
		{name: "labels and annotations", change: func(p *v1.Pod) {
			p.Labels = map[string]string{"app": "y", "tier": "web"}
			p.Annotations = map[string]string{"note": "hi"}
		}},
		{name: "container image", change: func(p *v1.Pod) { p.Spec.Containers[1].Image = "busybox:v2" }},
		{name: "init container image", change: func(p *v1.Pod) { p.Spec.InitContainers[0].Image = "busybox:v2" }},
		{name: "deadline shortened", change: func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = i64(60) }},
		{name: "deadline unchanged", change: func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = i64(600) }},
		{name: "toleration added", change: func(p *v1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, v1.Toleration{Key: "new", Operator: v1.TolerationOpExists})
		}},
		{name: "toleration seconds changed", change: func(p *v1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = i64(30) }},
		{name: "negative grace set to 1", change: func(p *v1.Pod) { p.Spec.TerminationGracePeriodSeconds = i64(1) }},

		{name: "deadline lengthened", change: func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = i64(601) },
			wantErr: "spec.activeDeadlineSeconds: Invalid value: 601: must be less than or equal to previous value"},
		{name: "deadline removed", change: func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			wantErr: "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive integer to nil value"},
		{name: "deadline negative", change: func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = i64(-1) },
			wantErr: "spec.activeDeadlineSeconds: Invalid value: -1: must be between 0 and 2147483647, inclusive"},
		{name: "toleration removed", change: func(p *v1.Pod) { p.Spec.Tolerations = nil },
			wantErr: "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"},
		{name: "toleration effect changed", change: func(p *v1.Pod) { p.Spec.Tolerations[0].Effect = v1.TaintEffectNoSchedule },
			wantErr: "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"},
		{name: "command", change: func(p *v1.Pod) { p.Spec.Containers[1].Command = []string{"sleep", "2"} },
			wantErr: forbidden, diff: `+      "2"`},
		{name: "container added", change: func(p *v1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "c", Image: "busybox"})
		},
			wantErr: forbidden, diff: `+    "name": "c",`},
		{name: "image and env", change: func(p *v1.Pod) {
			p.Spec.Containers[0].Image = "busybox:v2"
			p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "A", Value: "1"}}
		}, wantErr: forbidden, diff: `+      "env": [`},
		{name: "restart policy", change: func(p *v1.Pod) { p.Spec.RestartPolicy = v1.RestartPolicyNever },
			wantErr: forbidden, diff: `+  "restartPolicy": "Never",`},
	} {
		old := updateBase()
		if tc.name == "negative grace set to 1" {
			old.Spec.TerminationGracePeriodSeconds = i64(-1)
		}
		upd := old.DeepCopy()
		tc.change(upd)
		errs := ValidatePodUpdate(upd, old)
		if tc.wantErr == "" {
			if len(errs) != 0 {
				t.Errorf("%s: refused: %v", tc.name, errs)
			}
			continue
		}
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.wantErr) {
			t.Errorf("%s: errors %v\nwant one starting with %q", tc.name, errs, tc.wantErr)
			continue
		}
		if tc.diff != "" && !diffHas(errs[0].Error(), tc.diff) {
			t.Errorf("%s: diff lacks %q:\n%s", tc.name, tc.diff, errs[0].Error())
		}
	}
}

// diffHas tells whether the diff has an added line with content want
// (indentation ignored).
func diffHas(diff, want string) bool {
	for _, l := range strings.Split(diff, "\n") {
		if c, ok := strings.CutPrefix(l, "+"); ok && strings.TrimSpace(c) == strings.TrimSpace(strings.TrimPrefix(want, "+")) {
			return true
		}
	}
	return false
}
