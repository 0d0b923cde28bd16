package kubeapi

import (
	"encoding/json"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/miniagent/miniagent/agent/cli"
)

// Column descriptions, the apiserver's words.
var columnDescriptions = map[string]string{
	"NAME": metav1.ObjectMeta{}.SwaggerDoc()["name"],
	"AGE":  metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"],
}

// columnsOf turns kubectl's columns into Table column definitions: -o wide
// columns have priority 1, NAME has the "name" format kubectl keys on.
func columnsOf(cols []cli.TableColumn) []metav1.TableColumnDefinition {
	out := make([]metav1.TableColumnDefinition, len(cols))
	for i, c := range cols {
		out[i] = metav1.TableColumnDefinition{Name: c.Name, Type: "string", Description: columnDescriptions[c.Name]}
		if c.Name == "NAME" {
			out[i].Format = "name"
		}
		if c.Wide {
			out[i].Priority = 1
		}
	}
	return out
}

var (
	podColumns       = columnsOf(cli.PodTableColumns)
	eventColumns     = columnsOf(cli.EventTableColumns)
	nodeColumns      = columnsOf(cli.NodeTableColumns)
	namespaceColumns = columnsOf([]cli.TableColumn{{Name: "NAME"}, {Name: "STATUS"}, {Name: "AGE"}})
)

// object is one served object: its metadata and its row.
type object interface {
	runtime.Object
	metav1.Object
}

// tableOf renders objs, all of one kind, as a Table with that kind's
// kubectl columns cols.
func tableOf(f format, rv string, cols []metav1.TableColumnDefinition, objs []object, now time.Time) *metav1.Table {
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/" + f.tableVersion},
		ListMeta:          metav1.ListMeta{ResourceVersion: rv},
		ColumnDefinitions: cols,
		Rows:              []metav1.TableRow{},
	}
	for _, o := range objs {
		var cells []string
		switch o := o.(type) {
		case *v1.Pod:
			cells = cli.PodTableRow(o, now)
		case *v1.Event:
			cells = cli.EventTableRow(o, now)
		case *v1.Node:
			cells = cli.NodeTableRow(o, now)
		case *v1.Namespace:
			cells = []string{o.Name, string(o.Status.Phase), duration.HumanDuration(now.Sub(o.CreationTimestamp.Time))}
		}
		row := metav1.TableRow{Cells: make([]any, len(cells))}
		for i, c := range cells {
			row.Cells[i] = c
		}
		switch f.includeObject {
		case metav1.IncludeObject:
			row.Object.Raw, _ = json.Marshal(o)
		case metav1.IncludeMetadata:
			m := metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}}
			metaOf(o).DeepCopyInto(&m.ObjectMeta)
			row.Object.Raw, _ = json.Marshal(&m)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// metaOf is the object's ObjectMeta.
func metaOf(o object) *metav1.ObjectMeta {
	switch o := o.(type) {
	case *v1.Pod:
		return &o.ObjectMeta
	case *v1.Event:
		return &o.ObjectMeta
	case *v1.Node:
		return &o.ObjectMeta
	case *v1.Namespace:
		return &o.ObjectMeta
	}
	return &metav1.ObjectMeta{}
}

// PodTable is pods as the meta.k8s.io/v1 Table `kubectl get pods` is
// served, rows computed at now, each with its object's metadata (kubectl's default). The local API
// answers `miniagent get pods` with it (api.Server.SetPodTable).
func PodTable(pods []v1.Pod, now time.Time) any {
	objs := make([]object, len(pods))
	for i := range pods {
		objs[i] = &pods[i]
	}
	return tableOf(format{table: true, tableVersion: "v1", includeObject: metav1.IncludeMetadata}, "", podColumns, objs, now)
}
