package kubeapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/miniagent/miniagent/agent/cli"
)

const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		accept, query string
		table         bool
		version       string
		include       metav1.IncludeObjectPolicy
		err           bool
	}{
		{accept: "", include: metav1.IncludeMetadata},
		{accept: "*/*", include: metav1.IncludeMetadata},
		{accept: "application/json", include: metav1.IncludeMetadata},
		{accept: "application/json, */*", include: metav1.IncludeMetadata},
		{accept: tableAccept, table: true, version: "v1", include: metav1.IncludeMetadata},
		{accept: "application/json;as=Table;v=v1beta1;g=meta.k8s.io", table: true, version: "v1beta1", include: metav1.IncludeMetadata},
		{accept: tableAccept, query: "includeObject=Object", table: true, version: "v1", include: metav1.IncludeObject},
		{accept: tableAccept, query: "includeObject=None", table: true, version: "v1", include: metav1.IncludeNone},
		{accept: tableAccept, query: "includeObject=All", err: true},
		// Table of another group, or protobuf: not served.
		{accept: "application/json;as=Table;v=v1;g=example.com", err: true},
		{accept: "application/vnd.kubernetes.protobuf", err: true},
		{accept: "application/vnd.kubernetes.protobuf,application/json", include: metav1.IncludeMetadata},
		{accept: "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", err: true},
		{accept: "text/html", err: true},
	} {
		r := httptest.NewRequest("GET", "/api/v1/pods?"+tc.query, nil)
		r.Header.Set("Accept", tc.accept)
		f, err := negotiate(r)
		if (err != nil) != tc.err {
			t.Errorf("Accept %q %s: err %v, want error %v", tc.accept, tc.query, err, tc.err)
			continue
		}
		if err == nil && (f.table != tc.table || f.tableVersion != tc.version || f.includeObject != tc.include) {
			t.Errorf("Accept %q %s: %+v, want table %v %s include %s", tc.accept, tc.query, f, tc.table, tc.version, tc.include)
		}
	}
}

func TestNotAcceptableIs406(t *testing.T) {
	_, srv, _ := newTestServer(t)
	resp := do(t, srv, "GET", "/api/v1/pods", "application/vnd.kubernetes.protobuf")
	var st metav1.Status
	decode(t, resp, &st)
	if resp.StatusCode != http.StatusNotAcceptable || st.Code != http.StatusNotAcceptable {
		t.Fatalf("got %d %+v, want 406", resp.StatusCode, st)
	}
}

// TestPodTable: a Table of pods has kubectl's columns, the -o wide ones
// with priority 1, one row per pod with the CLI's cells and the pod's
// metadata as the row object.
func TestPodTable(t *testing.T) {
	b, srv, _ := newTestServer(t)
	running := testPod("web", map[string]string{"app": "web"})
	b.SetPod(running)
	b.SetPod(testPod("db", nil))
	var tbl metav1.Table
	resp := do(t, srv, "GET", "/api/v1/namespaces/default/pods", tableAccept)
	decode(t, resp, &tbl)
	if tbl.Kind != "Table" || tbl.APIVersion != "meta.k8s.io/v1" || tbl.ResourceVersion == "" {
		t.Fatalf("got %s %s rv %q, want a meta.k8s.io/v1 Table with a resourceVersion", tbl.APIVersion, tbl.Kind, tbl.ResourceVersion)
	}
	var names []string
	var wide []string
	for _, c := range tbl.ColumnDefinitions {
		names = append(names, c.Name)
		if c.Priority == 1 {
			wide = append(wide, c.Name)
		}
	}
	if want := []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"}; !slices.Equal(names, want) {
		t.Errorf("columns %v, want %v", names, want)
	}
	if want := []string{"IP", "NODE", "NOMINATED NODE", "READINESS GATES"}; !slices.Equal(wide, want) {
		t.Errorf("wide columns %v, want %v", wide, want)
	}
	if tbl.ColumnDefinitions[0].Format != "name" {
		t.Errorf("NAME column format %q, want name", tbl.ColumnDefinitions[0].Format)
	}
	if len(tbl.Rows) != 2 {
		t.Fatalf("%d rows, want 2", len(tbl.Rows))
	}
	pods, _ := b.ListPods(ctx(t), "default")
	for i, row := range tbl.Rows {
		want := cli.PodTableRow(&pods[i], testNow)
		got := make([]string, len(row.Cells))
		for j, c := range row.Cells {
			got[j], _ = c.(string)
		}
		if !slices.Equal(got, want) {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
		var m metav1.PartialObjectMetadata
		if err := json.Unmarshal(row.Object.Raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind != "PartialObjectMetadata" || m.Name != pods[i].Name || m.Namespace != "default" || m.UID != pods[i].UID {
			t.Errorf("row %d object %+v, want the metadata of %s", i, m, pods[i].Name)
		}
	}
	if got := tbl.Rows[0].Cells[4]; got != "10m" {
		t.Errorf("AGE %v, want 10m (the fake clock is 10 minutes after creation)", got)
	}
}

func TestSinglePodTableAndObject(t *testing.T) {
	b, srv, _ := newTestServer(t)
	b.SetPod(testPod("web", nil))
	var tbl metav1.Table
	decode(t, do(t, srv, "GET", "/api/v1/namespaces/default/pods/web?includeObject=Object", tableAccept), &tbl)
	if len(tbl.Rows) != 1 || tbl.Rows[0].Cells[0] != "web" {
		t.Fatalf("rows %+v, want one row for web", tbl.Rows)
	}
	var p v1.Pod
	if err := json.Unmarshal(tbl.Rows[0].Object.Raw, &p); err != nil || p.Kind != "Pod" || len(p.Spec.Containers) != 1 {
		t.Fatalf("row object %s (%v), want the whole pod", tbl.Rows[0].Object.Raw, err)
	}
	// Plain JSON: the pod, with kind and a resourceVersion.
	var plain v1.Pod
	decode(t, do(t, srv, "GET", "/api/v1/namespaces/default/pods/web", "application/json"), &plain)
	if plain.Kind != "Pod" || plain.APIVersion != "v1" || plain.ResourceVersion == "" {
		t.Fatalf("pod %s/%s rv %q", plain.APIVersion, plain.Kind, plain.ResourceVersion)
	}
}

func TestEventAndNodeTables(t *testing.T) {
	b, srv, _ := newTestServer(t)
	b.SetPod(testPod("web", nil))
	ev := v1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "default", Name: "web.1"},
		InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "uid-web"},
		Reason:         "Started", Message: "Started container c", Type: "Normal",
		FirstTimestamp: metav1.NewTime(testNow.Add(-60e9)), LastTimestamp: metav1.NewTime(testNow.Add(-30e9)), Count: 1,
	}
	b.SetEvents("default", "web", []v1.Event{ev})
	var tbl metav1.Table
	decode(t, do(t, srv, "GET", "/api/v1/namespaces/default/events", tableAccept), &tbl)
	var basic []string
	for _, c := range tbl.ColumnDefinitions {
		if c.Priority == 0 {
			basic = append(basic, c.Name)
		}
	}
	if want := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}; !slices.Equal(basic, want) {
		t.Errorf("event columns without -o wide %v, want %v", basic, want)
	}
	if len(tbl.Rows) != 1 || tbl.Rows[0].Cells[0] != "30s" || tbl.Rows[0].Cells[3] != "pod/web" {
		t.Errorf("event rows %+v", tbl.Rows)
	}
	// kubectl describe selects on involvedObject.uid, which the local API
	// does not: it is filtered here.
	var list v1.EventList
	decode(t, do(t, srv, "GET", "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb,involvedObject.uid%3Duid-2", ""), &list)
	if len(list.Items) != 0 {
		t.Errorf("events of another UID: %+v", list.Items)
	}
	decode(t, do(t, srv, "GET", "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb,involvedObject.uid%3Duid-web", ""), &list)
	if len(list.Items) != 1 || list.ResourceVersion == "" {
		t.Errorf("events of uid-1: %+v", list)
	}
	var nodes metav1.Table
	decode(t, do(t, srv, "GET", "/api/v1/nodes", tableAccept), &nodes)
	if len(nodes.Rows) != 1 || nodes.Rows[0].Cells[0] != "node1" || nodes.ColumnDefinitions[1].Name != "STATUS" {
		t.Errorf("node table %+v", nodes)
	}
	var ns metav1.Table
	decode(t, do(t, srv, "GET", "/api/v1/namespaces", tableAccept), &ns)
	if len(ns.Rows) != 1 || ns.Rows[0].Cells[0] != "default" || ns.Rows[0].Cells[1] != "Active" {
		t.Errorf("namespace table %+v", ns.Rows)
	}
}
