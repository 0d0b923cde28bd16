package cli

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestParseLogsArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
		check   func(logsFlags) bool
	}{
		{args: []string{"web", "--since=90s"}, check: func(f logsFlags) bool { return *f.opts.SinceSeconds == 90 && f.opts.TailLines == nil }},
		{args: []string{"web", "--since=1500ms"}, check: func(f logsFlags) bool { return *f.opts.SinceSeconds == 2 }},
		{args: []string{"web", "--since-time=2024-01-02T03:04:05Z"}, check: func(f logsFlags) bool { return f.opts.SinceTime.Unix() == now.Unix() }},
		{args: []string{"web", "--limit-bytes=5"}, check: func(f logsFlags) bool { return *f.opts.LimitBytes == 5 }},
		{args: []string{"-l", "app=web"}, check: func(f logsFlags) bool { return f.selector == "app=web" && *f.opts.TailLines == 10 }},
		{args: []string{"-l", "app=web", "--tail=-1"}, check: func(f logsFlags) bool { return *f.opts.TailLines == 10 }},
		{args: []string{"-l", "app=web", "--tail=3"}, check: func(f logsFlags) bool { return *f.opts.TailLines == 3 }},
		{args: []string{"web", "--all-containers", "--prefix"}, check: func(f logsFlags) bool { return f.allContainers && f.prefix && f.pod == "web" }},
		{args: []string{"pod/web", "ca"}, check: func(f logsFlags) bool { return f.pod == "web" && f.opts.Container == "ca" }},
		{args: []string{"web", "--since=1s", "--since-time=2024-01-02T03:04:05Z"}, wantErr: "at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{args: []string{"web", "--since-time=yesterday"}, wantErr: `invalid --since-time "yesterday": parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`},
		{args: []string{"web", "--limit-bytes=0"}, wantErr: "--limit-bytes must be greater than 0"},
		{args: []string{"web", "-c", "ca", "--all-containers"}, wantErr: "--all-containers=true should not be specified with container name"},
		{args: []string{"web", "-l", "app=web"}, wantErr: "only a selector (-l) or a POD name is allowed"},
		{args: []string{}, wantErr: "expected POD_NAME [CONTAINER_NAME]: miniagent logs NAME [-c CONTAINER]"},
		{args: []string{"node/x"}, wantErr: "cannot get the logs from node"},
	} {
		a := &app{namespace: "default"}
		f, err := a.parseLogsArgs(tc.args)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !tc.check(f) {
			t.Errorf("%v: %+v, %v", tc.args, f, err)
		}
	}
}

func TestLogsSeveral(t *testing.T) {
	e := newEnv(t)
	web := statusPod("web")
	web.Labels = map[string]string{"app": "x"}
	web.Spec.InitContainers = []v1.Container{{Name: "init"}}
	web.Spec.Containers = append(web.Spec.Containers, v1.Container{Name: "side"})
	e.b.SetPod(web)
	db := statusPod("db")
	db.Labels = map[string]string{"app": "x"}
	e.b.SetPod(db)
	e.b.SetLog("default", "web", "init", "i1\n")
	e.b.SetLog("default", "web", "ca", "w1\nw2\n")
	e.b.SetLog("default", "web", "side", "s1\n")
	e.b.SetLog("default", "db", "ca", "d1\n")
	if got := e.mustRun("logs", "web", "--all-containers"); got != "i1\nw1\nw2\ns1\n" {
		t.Errorf("--all-containers: %q", got)
	}
	if got := e.mustRun("logs", "web", "--all-containers", "--prefix"); got != "[pod/web/init] i1\n[pod/web/ca] w1\n[pod/web/ca] w2\n[pod/web/side] s1\n" {
		t.Errorf("--prefix: %q", got)
	}
	if got := e.mustRun("logs", "db", "--prefix"); got != "[pod/db/ca] d1\n" {
		t.Errorf("--prefix, one container: %q", got)
	}
	if got := e.mustRun("logs", "-l", "app=x", "--prefix"); got != "[pod/web/ca] w1\n[pod/web/ca] w2\n[pod/db/ca] d1\n" {
		t.Errorf("-l: %q", got)
	}
	if o := e.b.LastLogOptions(); o.TailLines == nil || *o.TailLines != 10 {
		t.Errorf("-l sends --tail 10: %+v", o)
	}
	e.mustRun("logs", "db", "--since=2m", "--limit-bytes=100")
	if o := e.b.LastLogOptions(); o.SinceSeconds == nil || *o.SinceSeconds != 120 || o.LimitBytes == nil || *o.LimitBytes != 100 {
		t.Errorf("since/limit sent: %+v", o)
	}
	e.mustRun("logs", "db", "--since-time=2024-01-02T03:00:00Z")
	if o := e.b.LastLogOptions(); o.SinceTime == nil || o.SinceTime.UTC().Format("15:04:05") != "03:00:00" {
		t.Errorf("since-time sent: %+v", o)
	}
}
