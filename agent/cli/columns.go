package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/jsonpath"
)

// kubectl's custom-columns, --sort-by, --show-labels and -L, over the
// object's JSON form (kubectl evaluates them on the unstructured object).

// customColumn is one NAME:EXPR of -o custom-columns.
type customColumn struct {
	header string
	expr   string
	jp     *jsonpath.JSONPath
}

// relaxedJSONPath accepts ".a.b", "a.b" and "{.a.b}" as kubectl does.
func relaxedJSONPath(expr string) (string, error) {
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "{") {
		if !strings.HasSuffix(e, "}") {
			return "", fmt.Errorf("unclosed {: %s", expr)
		}
		e = strings.TrimSuffix(strings.TrimPrefix(e, "{"), "}")
	}
	if e == "" {
		return "", fmt.Errorf("empty jsonpath expression")
	}
	if !strings.HasPrefix(e, ".") && !strings.HasPrefix(e, "[") {
		e = "." + e
	}
	return "{" + e + "}", nil
}

// parseCustomColumns reads "NAME:EXPR,NAME2:EXPR2".
func parseCustomColumns(spec string) ([]customColumn, error) {
	if spec == "" {
		return nil, fmt.Errorf("custom-columns format specified but no custom columns given")
	}
	var out []customColumn
	for _, part := range strings.Split(spec, ",") {
		header, expr, ok := strings.Cut(part, ":")
		if !ok || header == "" {
			return nil, fmt.Errorf("unexpected custom-columns spec: %s, expected <header>:<json-path-expr>", part)
		}
		e, err := relaxedJSONPath(expr)
		if err != nil {
			return nil, err
		}
		jp := jsonpath.New(header).AllowMissingKeys(true)
		if err := jp.Parse(e); err != nil {
			return nil, fmt.Errorf("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}': %s", expr)
		}
		out = append(out, customColumn{header: header, expr: e, jp: jp})
	}
	return out, nil
}

// genericJSON turns obj into maps, slices, strings, bools and json.Number.
func genericJSON(obj any) (any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	err = dec.Decode(&out)
	return out, err
}

// jsonPathValues evaluates jp over obj and formats each value with %v.
func jsonPathValues(jp *jsonpath.JSONPath, obj any) ([]string, error) {
	g, err := genericJSON(obj)
	if err != nil {
		return nil, err
	}
	results, err := findJSONPath(jp, g)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(results))
	for _, r := range results {
		out = append(out, fmt.Sprintf("%v", r.Interface()))
	}
	return out, nil
}

// printCustomColumns writes one header line and one line per object.
func printCustomColumns(w io.Writer, cols []customColumn, objs []any, noHeaders bool) error {
	tw := newTable(w)
	if !noHeaders {
		writeRow(tw, customHeader(cols))
	}
	for _, o := range objs {
		cells, err := customCells(cols, o)
		if err != nil {
			return err
		}
		writeRow(tw, cells)
	}
	return tw.Flush()
}

func customHeader(cols []customColumn) []string {
	h := make([]string, len(cols))
	for i, c := range cols {
		h[i] = c.header
	}
	return h
}

// customCells are one object's cells: values joined by ",", "<none>" if none.
func customCells(cols []customColumn, obj any) ([]string, error) {
	cells := make([]string, len(cols))
	for i, c := range cols {
		vals, err := jsonPathValues(c.jp, obj)
		if err != nil {
			return nil, err
		}
		cells[i] = "<none>"
		if len(vals) > 0 {
			cells[i] = strings.Join(vals, ",")
		}
	}
	return cells, nil
}

// sortByJSONPath orders objs by the value of expr, as kubectl --sort-by:
// numbers numerically, RFC3339 times by time, anything else as strings;
// objects without the field first.
func sortByJSONPath(expr string, objs []any) error {
	e, err := relaxedJSONPath(expr)
	if err != nil {
		return err
	}
	jp := jsonpath.New("sort").AllowMissingKeys(true)
	if err := jp.Parse(e); err != nil {
		return fmt.Errorf("couldn't parse --sort-by %q: %v", expr, err)
	}
	keys := make([]string, len(objs))
	has := make([]bool, len(objs))
	for i, o := range objs {
		vals, err := jsonPathValues(jp, o)
		if err != nil {
			return err
		}
		if len(vals) > 1 {
			return fmt.Errorf("--sort-by %q matches more than one value in an object", expr)
		}
		if len(vals) == 1 {
			keys[i], has[i] = vals[0], true
		}
	}
	idx := make([]int, len(objs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool {
		i, j := idx[x], idx[y]
		if has[i] != has[j] {
			return !has[i]
		}
		return lessValue(keys[i], keys[j])
	})
	sorted := make([]any, len(objs))
	for k, i := range idx {
		sorted[k] = objs[i]
	}
	copy(objs, sorted)
	return nil
}

func lessValue(a, b string) bool {
	if x, err := strconv.ParseFloat(a, 64); err == nil {
		if y, err := strconv.ParseFloat(b, 64); err == nil {
			return x < y
		}
	}
	if x, err := time.Parse(time.RFC3339, a); err == nil {
		if y, err := time.Parse(time.RFC3339, b); err == nil {
			return x.Before(y)
		}
	}
	return a < b
}

// labelColumns are -L and --show-labels: headers and cells added to a table.
type labelColumns struct {
	keys []string // -L, in order
	show bool     // --show-labels
}

func (l labelColumns) header() []string {
	var h []string
	for _, k := range l.keys {
		parts := strings.Split(k, "/")
		h = append(h, strings.ToUpper(parts[len(parts)-1]))
	}
	if l.show {
		h = append(h, "LABELS")
	}
	return h
}

func (l labelColumns) cells(m map[string]string) []string {
	var c []string
	for _, k := range l.keys {
		c = append(c, m[k])
	}
	if l.show {
		s := labels.FormatLabels(m)
		c = append(c, s)
	}
	return c
}
