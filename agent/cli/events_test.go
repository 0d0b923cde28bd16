package cli

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func testEvent(pod, name, typ, reason, msg string, first, last time.Duration, count int32) v1.Event {
	return v1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "default"},
		InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod, APIVersion: "v1"},
		Type:           typ, Reason: reason, Message: msg, Count: count,
		FirstTimestamp: ago(first), LastTimestamp: ago(last),
		Source: v1.EventSource{Component: "kubelet", Host: "node1"},
	}
}

func TestGetEvents(t *testing.T) {
	e := newEnv(t)
	_, errs, rc := e.cli("", "get", "events")
	if rc != 0 || errs != "No resources found in default namespace.\n" {
		t.Errorf("empty: %d %q", rc, errs)
	}
	e.b.SetPod(statusPod("web"))
	e.b.SetPod(statusPod("db"))
	e.b.SetEvents("default", "web", []v1.Event{
		testEvent("web", "web.1", "Normal", "Scheduled", "Successfully assigned default/web to node1", 5*time.Minute, 5*time.Minute, 1),
		testEvent("web", "web.2", "Warning", "BackOff", "Back-off restarting failed container ca in pod web_default(uid)", 4*time.Minute, 10*time.Second, 7),
	})
	e.b.SetEvents("default", "db", []v1.Event{
		testEvent("db", "db.1", "Normal", "Started", "Started container ca", 3*time.Minute, 3*time.Minute, 1),
	})
	want := "" +
		"LAST SEEN   TYPE      REASON      OBJECT    MESSAGE\n" +
		"5m          Normal    Scheduled   pod/web   Successfully assigned default/web to node1\n" +
		"10s         Warning   BackOff     pod/web   Back-off restarting failed container ca in pod web_default(uid)\n" +
		"3m          Normal    Started     pod/db    Started container ca\n"
	if got := e.mustRun("get", "events"); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	want = "" +
		"LAST SEEN   TYPE     REASON    OBJECT   MESSAGE\n" +
		"3m          Normal   Started   pod/db   Started container ca\n"
	if got := e.mustRun("get", "ev", "--field-selector", "involvedObject.name=db"); got != want {
		t.Errorf("field selector:\n%s\nwant:\n%s", got, want)
	}
	want = "" +
		"LAST SEEN   TYPE     REASON    OBJECT   SUBOBJECT   SOURCE           MESSAGE                FIRST SEEN   COUNT   NAME\n" +
		"3m          Normal   Started   pod/db               kubelet, node1   Started container ca   3m           1       db.1\n"
	if got := e.mustRun("get", "events", "--field-selector=involvedObject.name=db", "-o", "wide"); got != want {
		t.Errorf("wide:\n%s\nwant:\n%s", got, want)
	}
	if got := e.mustRun("get", "events", "-o", "name"); got != "event/web.1\nevent/web.2\nevent/db.1\n" {
		t.Errorf("-o name: %q", got)
	}
	want = "" +
		"NAMESPACE   LAST SEEN   TYPE     REASON    OBJECT   MESSAGE\n" +
		"default     3m          Normal   Started   pod/db   Started container ca\n"
	if got := e.mustRun("get", "events", "-A", "--field-selector", "involvedObject.name=db,involvedObject.namespace=default"); got != want {
		t.Errorf("-A:\n%s\nwant:\n%s", got, want)
	}
	_, errs, rc = e.cli("", "get", "events", "--field-selector", "reason=BackOff")
	if rc != 1 || errs != "Error from server (BadRequest): field label not supported: reason\n" {
		t.Errorf("bad field: %d %q", rc, errs)
	}
	_, errs, rc = e.cli("", "get", "pods", "--field-selector", "involvedObject.name=db")
	if rc != 1 || errs != "error: --field-selector is supported for events only\n" {
		t.Errorf("pods field selector: %d %q", rc, errs)
	}
}

func TestGetEventsWatch(t *testing.T) {
	e := newEnv(t)
	e.b.SetPod(statusPod("web"))
	e.b.SetPod(statusPod("db"))
	e.b.SetEvents("default", "web", []v1.Event{testEvent("web", "web.1", "Normal", "Pulled", "Container image \"busybox\" already present on machine", time.Minute, time.Minute, 1)})
	ctx, cancel := context.WithCancel(context.Background())
	r, w, _ := os.Pipe()
	done := make(chan int)
	go func() {
		done <- run(ctx, clocktesting.NewFakePassiveClock(now), []string{"--socket", e.sock, "get", "events", "-w", "--field-selector", "involvedObject.name=web"}, nil, w, w)
		w.Close()
	}()
	for e.b.EventWatchers() == 0 {
		time.Sleep(time.Millisecond)
	}
	e.b.AddEvent(testEvent("db", "db.1", "Normal", "Started", "Started container ca", 0, 0, 1))
	e.b.AddEvent(testEvent("web", "web.2", "Normal", "Started", "Started container ca", 0, 0, 1))
	time.Sleep(100 * time.Millisecond)
	cancel()
	if rc := <-done; rc != 0 {
		t.Errorf("exit %d", rc)
	}
	var buf bytes.Buffer
	buf.ReadFrom(r)
	want := "" +
		"LAST SEEN   TYPE     REASON   OBJECT    MESSAGE\n" +
		"60s         Normal   Pulled   pod/web   Container image \"busybox\" already present on machine\n" +
		"0s          Normal   Started   pod/web   Started container ca\n"
	if buf.String() != want {
		t.Errorf("watch output:\n%s\nwant:\n%s", buf.String(), want)
	}
}
