package kubeapi

import (
	"net/http"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWatchFromListVersion: a watch from a list's resourceVersion sends
// only what changed after the list (kubectl get -w prints the list and
// then every event, so a re-sent ADDED would print a pod twice).
func TestWatchFromListVersion(t *testing.T) {
	b, srv, _ := newTestServer(t)
	b.SetPod(testPod("same", nil))
	b.SetPod(testPod("changed", nil))
	b.SetPod(testPod("gone", nil))
	var list v1.PodList
	decode(t, do(t, srv, "GET", "/api/v1/namespaces/default/pods", ""), &list)
	if len(list.Items) != 3 || list.ResourceVersion == "" {
		t.Fatalf("list %+v", list)
	}
	changed := testPod("changed", map[string]string{"v": "2"})
	b.SetPod(changed)
	if _, err := b.DeletePod(ctx(t), "default", "gone", nil, false); err != nil {
		t.Fatal(err)
	}
	b.SetPod(testPod("new", nil))
	resp := newWatchReader(do(t, srv, "GET", "/api/v1/namespaces/default/pods?watch=true&resourceVersion="+list.ResourceVersion, ""))
	evs := resp.next(t, 3)
	got := map[string]string{}
	for _, ev := range evs {
		got[ev.meta(t).Name] = ev.Type
	}
	want := map[string]string{"changed": "MODIFIED", "new": "ADDED", "gone": "DELETED"}
	if len(got) != len(want) || got["changed"] != want["changed"] || got["new"] != want["new"] || got["gone"] != want["gone"] {
		t.Fatalf("events %v, want %v (nothing for the unchanged pod)", got, want)
	}
	// Later changes follow.
	b.SetPod(testPod("same", map[string]string{"x": "y"}))
	if ev := resp.next(t, 1)[0]; ev.Type != "MODIFIED" || ev.meta(t).Name != "same" {
		t.Fatalf("after a change: %s %s, want MODIFIED same", ev.Type, ev.meta(t).Name)
	}
}

func TestWatchFromUnknownVersionIsGone(t *testing.T) {
	_, srv, _ := newTestServer(t)
	resp := do(t, srv, "GET", "/api/v1/pods?watch=true&resourceVersion=12345", "")
	var st metav1.Status
	decode(t, resp, &st)
	if resp.StatusCode != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("got %d %+v, want 410 Expired", resp.StatusCode, st)
	}
}

// TestWatchListBookmark: sendInitialEvents=true (client-go's watch-list)
// gets every pod and then the bookmark that ends the initial events.
func TestWatchListBookmark(t *testing.T) {
	b, srv, _ := newTestServer(t)
	b.SetPod(testPod("a", nil))
	resp := newWatchReader(do(t, srv, "GET", "/api/v1/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", ""))
	evs := resp.next(t, 2)
	if evs[0].Type != "ADDED" || evs[0].meta(t).Name != "a" {
		t.Errorf("first event %s %s, want ADDED a", evs[0].Type, evs[0].meta(t).Name)
	}
	m := evs[1].meta(t)
	if evs[1].Type != "BOOKMARK" || m.Annotations[metav1.InitialEventsAnnotationKey] != "true" || m.ResourceVersion == "" {
		t.Errorf("second event %s %+v, want the initial-events-end BOOKMARK", evs[1].Type, m)
	}
}

// TestWatchSelectorTransitions: a pod that stops matching the label
// selector is DELETED for the watcher, one that starts matching ADDED.
func TestWatchSelectorTransitions(t *testing.T) {
	b, srv, _ := newTestServer(t)
	b.SetPod(testPod("p", map[string]string{"app": "web"}))
	resp := newWatchReader(do(t, srv, "GET", "/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb", ""))
	if ev := resp.next(t, 1)[0]; ev.Type != "ADDED" {
		t.Fatalf("initial %s, want ADDED", ev.Type)
	}
	b.SetPod(testPod("p", map[string]string{"app": "db"}))
	if ev := resp.next(t, 1)[0]; ev.Type != "DELETED" {
		t.Fatalf("after leaving the selection: %s, want DELETED", ev.Type)
	}
	b.SetPod(testPod("p", map[string]string{"app": "web"}))
	if ev := resp.next(t, 1)[0]; ev.Type != "ADDED" {
		t.Fatalf("after coming back: %s, want ADDED", ev.Type)
	}
}

func TestWatchTable(t *testing.T) {
	b, srv, _ := newTestServer(t)
	b.SetPod(testPod("web", nil))
	resp := newWatchReader(do(t, srv, "GET", "/api/v1/namespaces/default/pods?watch=true", tableAccept))
	ev := resp.next(t, 1)[0]
	var tbl metav1.Table
	decodeRaw(t, ev.Object, &tbl)
	if tbl.Kind != "Table" || len(tbl.Rows) != 1 || tbl.Rows[0].Cells[0] != "web" || len(tbl.ColumnDefinitions) == 0 {
		t.Fatalf("watch event object %s, want a Table of one row", ev.Object)
	}
}

func TestFieldSelector(t *testing.T) {
	b, srv, _ := newTestServer(t)
	b.SetPod(testPod("a", nil))
	b.SetPod(testPod("b", nil))
	var list v1.PodList
	decode(t, do(t, srv, "GET", "/api/v1/pods?fieldSelector=metadata.name%3Db", ""), &list)
	if len(list.Items) != 1 || list.Items[0].Name != "b" {
		t.Fatalf("metadata.name=b: %+v", list.Items)
	}
	resp := do(t, srv, "GET", "/api/v1/pods?fieldSelector=spec.bogus%3Dx", "")
	var st metav1.Status
	decode(t, resp, &st)
	if resp.StatusCode != 400 || st.Message != "field label not supported: spec.bogus" {
		t.Fatalf("unknown field: %d %q", resp.StatusCode, st.Message)
	}
}

// TestEventWatchFromListVersion: the local API's event watch starts with
// every event; from a list's version, those the list had are dropped.
func TestEventWatchFromListVersion(t *testing.T) {
	b, srv, _ := newTestServer(t)
	b.SetPod(testPod("web", nil))
	old := v1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web.1"}, Reason: "Pulled",
		InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}, Count: 1}
	b.SetEvents("default", "web", []v1.Event{old})
	var list v1.EventList
	decode(t, do(t, srv, "GET", "/api/v1/namespaces/default/events", ""), &list)
	if len(list.Items) != 1 {
		t.Fatalf("list %+v", list.Items)
	}
	resp := newWatchReader(do(t, srv, "GET", "/api/v1/namespaces/default/events?watch=true&resourceVersion="+list.ResourceVersion, tableAccept))
	// The watcher is subscribed once the stream has started: wait for it.
	for i := 0; b.EventWatchers() == 0 && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	b.AddEvent(v1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web.2"}, Reason: "Started",
		InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}, Count: 1})
	ev := resp.next(t, 1)[0]
	var tbl metav1.Table
	decodeRaw(t, ev.Object, &tbl)
	if ev.Type != "ADDED" || len(tbl.Rows) != 1 || tbl.Rows[0].Cells[2] != "Started" {
		t.Fatalf("first event after the list: %s %s, want the new Started event only", ev.Type, ev.Object)
	}
}

func TestNodeWatchNotSupported(t *testing.T) {
	_, srv, _ := newTestServer(t)
	resp := do(t, srv, "GET", "/api/v1/nodes?watch=true", "")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("node watch: %d, want 405", resp.StatusCode)
	}
}
