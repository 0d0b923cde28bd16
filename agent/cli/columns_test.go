package cli

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRelaxedJSONPath(t *testing.T) {
	for in, want := range map[string]string{
		".metadata.name":   "{.metadata.name}",
		"metadata.name":    "{.metadata.name}",
		"{.metadata.name}": "{.metadata.name}",
		"{metadata.name}":  "{.metadata.name}",
		"[0].x":            "{[0].x}",
	} {
		if got, err := relaxedJSONPath(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "{.a", "{}"} {
		if _, err := relaxedJSONPath(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestGetColumnsAndSort(t *testing.T) {
	e := newEnv(t)
	web := statusPod("web")
	web.Labels = map[string]string{"app": "web", "example.com/tier": "front"}
	web.Status.ContainerStatuses[0].RestartCount = 12
	web.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
	e.b.SetPod(web)
	db := statusPod("db")
	db.Labels = map[string]string{"app": "db"}
	db.Status.ContainerStatuses[0].RestartCount = 3
	e.b.SetPod(db)
	bare := statusPod("bare")
	bare.Status.ContainerStatuses[0].RestartCount = 100
	e.b.SetPod(bare)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "pods", "-o", "custom-columns=NAME:.metadata.name,APP:.metadata.labels.app,RESTARTS:status.containerStatuses[*].restartCount"}, "" +
			"NAME   APP      RESTARTS\n" +
			"web    web      12\n" +
			"db     db       3\n" +
			"bare   <none>   100\n"},
		{[]string{"get", "pods", "--sort-by=.metadata.name", "-o", "name"}, "pod/bare\npod/db\npod/web\n"},
		{[]string{"get", "pods", "--sort-by", "{.status.containerStatuses[0].restartCount}", "-o", "custom-columns=N:.metadata.name"}, "N\ndb\nweb\nbare\n"},
		{[]string{"get", "pods", "--sort-by=.metadata.creationTimestamp", "-o", "name"}, "pod/web\npod/db\npod/bare\n"},
		{[]string{"get", "pods", "--sort-by=.metadata.labels.app", "-o", "name"}, "pod/bare\npod/db\npod/web\n"},
		{[]string{"get", "pods", "--show-labels"}, "" +
			"NAME   READY   STATUS    RESTARTS   AGE    LABELS\n" +
			"web    1/1     Running   12         60m    app=web,example.com/tier=front\n" +
			"db     1/1     Running   3          3m2s   app=db\n" +
			"bare   1/1     Running   100        3m2s   <none>\n"},
		{[]string{"get", "pods", "-L", "app", "-L", "example.com/tier", "--sort-by=.metadata.name"}, "" +
			"NAME   READY   STATUS    RESTARTS   AGE    APP   TIER\n" +
			"bare   1/1     Running   100        3m2s         \n" +
			"db     1/1     Running   3          3m2s   db    \n" +
			"web    1/1     Running   12         60m    web   front\n"},
		{[]string{"get", "pods", "web", "-L", "app,example.com/tier", "--show-labels", "--no-headers"},
			"web   1/1   Running   12    60m   web   front   app=web,example.com/tier=front\n"},
	} {
		if got := e.mustRun(tc.args...); got != tc.want {
			t.Errorf("%v:\n%s\nwant:\n%s", tc.args, got, tc.want)
		}
	}
	bare.Spec.Containers = append(bare.Spec.Containers, bare.Spec.Containers[0])
	bare.Spec.Containers[1].Name = "second"
	e.b.SetPod(bare)
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"get", "pods", "-o", "custom-columns="}, "error: custom-columns format specified but no custom columns given\n"},
		{[]string{"get", "pods", "-o", "custom-columns=NAME"}, "error: unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>\n"},
		{[]string{"get", "pods", "--sort-by=.spec.containers[*].name"}, "error: --sort-by \".spec.containers[*].name\" matches more than one value in an object\n"},
	} {
		_, errs, rc := e.cli("", tc.args...)
		if rc != 1 || errs != tc.wantErr {
			t.Errorf("%v: %d %q, want %q", tc.args, rc, errs, tc.wantErr)
		}
	}
}
