package fast

import (
	"strings"
	"testing"
)

func TestParseGet(t *testing.T) {
	for _, tc := range []struct {
		args string
		want *GetQuery // nil: not ours
	}{
		{"get pods", &GetQuery{Socket: "S", Namespace: "default"}},
		{"get po", &GetQuery{Socket: "S", Namespace: "default"}},
		{"get pod -n kube-system", &GetQuery{Socket: "S", Namespace: "kube-system"}},
		{"get pods -nkube-system", &GetQuery{Socket: "S", Namespace: "kube-system"}},
		{"get pods -n=x", &GetQuery{Socket: "S", Namespace: "x"}},
		{"--namespace=x get pods", &GetQuery{Socket: "S", Namespace: "x"}},
		{"--socket /t/s get pods -A", &GetQuery{Socket: "/t/s", Namespace: "default", All: true}},
		{"get pods --socket=/t/s --all-namespaces", &GetQuery{Socket: "/t/s", Namespace: "default", All: true}},
		{"get pods -o wide --no-headers", &GetQuery{Socket: "S", Namespace: "default", Wide: true, NoHeaders: true}},
		{"get pods -owide", &GetQuery{Socket: "S", Namespace: "default", Wide: true}},
		{"get pods --output=wide -l app=web", &GetQuery{Socket: "S", Namespace: "default", Wide: true, Selector: "app=web"}},
		{"get pods -lapp=web", &GetQuery{Socket: "S", Namespace: "default", Selector: "app=web"}},
		{"get pods --selector=app!=web", &GetQuery{Socket: "S", Namespace: "default", Selector: "app!=web"}},

		{"", nil},
		{"get", nil},
		{"get pods web", nil},
		{"get nodes", nil},
		{"get events", nil},
		{"describe pods", nil},
		{"get pods -o yaml", nil},
		{"get pods -o json", nil},
		{"get pods -oname", nil},
		{"get pods -w", nil},
		{"get pods --watch", nil},
		{"get pods --show-labels", nil},
		{"get pods -L app", nil},
		{"get pods --sort-by .metadata.name", nil},
		{"get pods --help", nil},
		{"get pods -h", nil},
		{"get pods -n", nil},
		{"get pods -n ''", nil},
		{"get pods -A=true", nil},
		{"get pods --no-headers=false", nil},
		{"get pods -", nil},
		{"get pods --field-selector a=b", nil},
	} {
		checkParse(t, "ParseGet", ParseGet, tc.args, nil, tc.want)
	}
}

func TestPrintTableRefusesShortRows(t *testing.T) {
	tb := table{ColumnDefinitions: []column{{Name: "NAME"}, {Name: "READY"}}, Rows: []row{{Cells: []any{"p"}}}}
	var b strings.Builder
	if err := printTable(&b, GetQuery{}, &tb); err == nil {
		t.Fatal("a row of 1 cell for 2 columns printed")
	}
}
