package fast

import (
	"testing"
	"time"
)

func TestParseWait(t *testing.T) {
	q := func(ns, name, cond, value string, timeout time.Duration) *WaitQuery {
		return &WaitQuery{Socket: "S", Namespace: ns, Name: name, Condition: cond, Value: value, Timeout: timeout}
	}
	for _, tc := range []struct {
		args string
		want *WaitQuery // nil: not ours
	}{
		{"wait --for=condition=Ready pod/web", q("default", "web", "Ready", "true", 30*time.Second)},
		{"wait --for condition=Ready pods/web", q("default", "web", "Ready", "true", 30*time.Second)},
		{"wait --for=Condition=ready po/web", q("default", "web", "ready", "true", 30*time.Second)},
		{"wait --for=condition=Ready=False pod web", q("default", "web", "Ready", "False", 30*time.Second)},
		{"wait --for=condition=Ready pods web --timeout=5m", q("default", "web", "Ready", "true", 5*time.Minute)},
		{"wait --for=condition=Ready pod/web --timeout 0", q("default", "web", "Ready", "true", 0)},
		{"wait --for=condition=Ready pod/web --timeout=-1s", q("default", "web", "Ready", "true", 7*24*time.Hour)},
		{"-n team wait --for=condition=Ready pod/web", q("team", "web", "Ready", "true", 30*time.Second)},
		{"wait --namespace=team --for=condition=Ready pod/web", q("team", "web", "Ready", "true", 30*time.Second)},

		{"wait pod/web", nil},
		{"wait --for=delete pod/web", nil},
		{"wait --for=jsonpath={.status.phase}=Running pod/web", nil},
		{"wait --for=condition= pod/web", nil},
		{"wait --for=condition=Ready pod/", nil},
		{"wait --for=condition=Ready pod/a pod/b", nil},
		{"wait --for=condition=Ready pod a b", nil},
		{"wait --for=condition=Ready pod pod/a", nil},
		{"wait --for=condition=Ready node/n", nil},
		{"wait --for=condition=Ready pods", nil},
		{"wait --for=condition=Ready pods -l app=web", nil},
		{"wait --for=condition=Ready pods --all", nil},
		{"wait --for=condition=Ready pod/web -A", nil},
		{"wait --for=condition=Ready pod/web --timeout=soon", nil},
		{"wait --for=condition=Ready --for=condition=Ready pod/web", nil},
		{"--for=condition=Ready wait pod/web", nil},
		{"wait --for=condition=Ready pod/web -n ''", nil},
		{"get --for=condition=Ready pod/web", nil},
	} {
		checkParse(t, "ParseWait", ParseWait, tc.args, nil, tc.want)
	}
}
