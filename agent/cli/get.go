package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/miniagent/miniagent/agent/api"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"
)

// newTable returns a tabwriter laid out like kubectl's tables.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0) }

func writeRow(w io.Writer, cells []string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }

// printer writes objects in one output format.
type printer struct {
	format string // "", wide, json, yaml, name, jsonpath, custom-columns
	jp     *jsonpath.JSONPath
	tmpl   string
	cols   []customColumn
}

func newPrinter(output string) (*printer, error) {
	p := &printer{format: output}
	switch {
	case output == "" || output == "wide" || output == "json" || output == "yaml" || output == "name":
	case strings.HasPrefix(output, "jsonpath="):
		tmpl := strings.TrimPrefix(output, "jsonpath=")
		if tmpl == "" {
			return nil, fmt.Errorf("template format specified but no template given")
		}
		p.format, p.tmpl = "jsonpath", tmpl
		p.jp = jsonpath.New("out").AllowMissingKeys(true)
		if err := p.jp.Parse(tmpl); err != nil {
			return nil, fmt.Errorf("error parsing jsonpath %s, %v", tmpl, err)
		}
	case strings.HasPrefix(output, "custom-columns="):
		cols, err := parseCustomColumns(strings.TrimPrefix(output, "custom-columns="))
		if err != nil {
			return nil, err
		}
		p.format, p.cols = "custom-columns", cols
	default:
		return nil, fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: custom-columns,json,jsonpath,name,wide,yaml", output)
	}
	return p, nil
}

// printObject writes obj (a Pod, Node or their List) as json, yaml,
// name or jsonpath.
func (p *printer) printObject(w io.Writer, obj any, kind string, names []string) error {
	switch p.format {
	case "json":
		data, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	case "yaml":
		data, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	case "custom-columns":
		items := []any{obj}
		if l, ok := obj.(map[string]any); ok {
			items, _ = l["items"].([]any)
		}
		return printCustomColumns(w, p.cols, items, false)
	case "name":
		for _, n := range names {
			fmt.Fprintf(w, "%s/%s\n", kind, n)
		}
		return nil
	case "jsonpath":
		data, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		var generic any
		if err := json.Unmarshal(data, &generic); err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := executeJSONPath(p.jp, &buf, generic); err != nil {
			return fmt.Errorf("error executing jsonpath %q: %v", p.tmpl, err)
		}
		_, err = w.Write(buf.Bytes())
		return err
	}
	return fmt.Errorf("unknown output format %q", p.format)
}

// executeJSONPath runs jp over data. client-go's jsonpath panics on some
// templates (an index into a missing value inside a range, e.g.
// `{range .x}{[0]}{end}`); such a panic comes back as an error.
func executeJSONPath(jp *jsonpath.JSONPath, w io.Writer, data any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return jp.Execute(w, data)
}

// list wraps items in the v1 List kubectl prints for several objects.
func list(items []any) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "List", "items": items, "metadata": map[string]any{"resourceVersion": ""}}
}

func (a *app) get(ctx context.Context, args []string) int {
	fs := a.flagSet("get")
	output := fs.StringP("output", "o", "", "output format")
	watch := fs.BoolP("watch", "w", false, "watch for changes")
	selector := fs.StringP("selector", "l", "", "label selector")
	noHeaders := fs.Bool("no-headers", false, "omit the table header")
	sortBy := fs.String("sort-by", "", "sort by the value of this JSONPath expression, e.g. .metadata.name")
	fs.BoolVar(&a.labels.show, "show-labels", false, "show all labels as the last column")
	fs.StringSliceVarP(&a.labels.keys, "label-columns", "L", nil, "labels to show as columns")
	fieldSelector := fs.String("field-selector", "", "field selector (events: involvedObject.name=NAME, involvedObject.kind, involvedObject.namespace)")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	res, names, err := splitResource(rest)
	if err != nil {
		return a.fail(err)
	}
	p, err := newPrinter(*output)
	if err != nil {
		return a.fail(err)
	}
	sel := labels.Everything()
	if *selector != "" {
		if sel, err = labels.Parse(*selector); err != nil {
			return a.fail(err)
		}
	}
	if res == "nodes" {
		return a.getNodes(ctx, names, p, *noHeaders)
	}
	if res == "events" {
		return a.getEvents(ctx, names, p, *fieldSelector, *watch, *noHeaders)
	}
	if *fieldSelector != "" {
		return a.fail(errors.New("--field-selector is supported for events only"))
	}
	if *watch {
		return a.watchPods(ctx, names, p, sel, *noHeaders)
	}
	c := a.client()
	var pods []v1.Pod
	rc := 0
	if len(names) > 0 {
		for _, n := range names {
			pod, err := c.GetPod(ctx, a.namespace, n)
			if err != nil {
				if isUnreachable(err) {
					return a.fail(err)
				}
				fmt.Fprint(a.stderr, FormatError(err))
				rc = 1
				continue
			}
			pods = append(pods, *pod)
		}
	} else {
		all, err := c.ListPods(ctx, a.listNamespace())
		if err != nil {
			return a.fail(err)
		}
		for _, pod := range all {
			if sel.Matches(labels.Set(pod.Labels)) {
				pods = append(pods, pod)
			}
		}
	}
	if *sortBy != "" {
		objs := make([]any, len(pods))
		for i := range pods {
			objs[i] = pods[i]
		}
		if err := sortByJSONPath(*sortBy, objs); err != nil {
			return a.fail(err)
		}
		for i := range objs {
			pods[i] = objs[i].(v1.Pod)
		}
	}
	if err := a.printPods(pods, p, len(names) == 1, *noHeaders); err != nil {
		return a.fail(err)
	}
	if len(pods) == 0 && len(names) == 0 && (p.format == "" || p.format == "wide") {
		if a.allNS {
			fmt.Fprintln(a.stderr, "No resources found")
		} else {
			fmt.Fprintf(a.stderr, "No resources found in %s namespace.\n", a.namespace)
		}
	}
	return rc
}

func (a *app) printPods(pods []v1.Pod, p *printer, single, noHeaders bool) error {
	if p.format == "" || p.format == "wide" {
		if len(pods) == 0 {
			return nil
		}
		tw := newTable(a.stdout)
		if !noHeaders {
			writeRow(tw, a.podHeader(p.format == "wide"))
		}
		for i := range pods {
			writeRow(tw, a.podCells(&pods[i], p.format == "wide"))
		}
		return tw.Flush()
	}
	names := make([]string, len(pods))
	items := make([]any, len(pods))
	for i := range pods {
		pods[i].Kind, pods[i].APIVersion = "Pod", "v1"
		names[i], items[i] = pods[i].Name, &pods[i]
	}
	if p.format == "custom-columns" {
		if len(pods) == 0 {
			return nil
		}
		return printCustomColumns(a.stdout, p.cols, items, noHeaders)
	}
	if single && len(pods) == 1 {
		return p.printObject(a.stdout, &pods[0], "pod", names)
	}
	if p.format == "name" && len(pods) == 0 {
		return nil
	}
	return p.printObject(a.stdout, list(items), "pod", names)
}

func (a *app) podHeader(wide bool) []string {
	h := podColumns
	if a.allNS {
		h = append([]string{"NAMESPACE"}, h...)
	}
	if wide {
		h = append(append([]string(nil), h...), podWideColumns...)
	}
	return append(append([]string(nil), h...), a.labels.header()...)
}

func (a *app) podCells(pod *v1.Pod, wide bool) []string {
	cells := podRow(pod, a.clock.Now(), wide)
	if a.allNS {
		cells = append([]string{pod.Namespace}, cells...)
	}
	return append(cells, a.labels.cells(pod.Labels)...)
}

// watchPods prints the pods as they are now and then one line (or object)
// per change until ctx ends.
func (a *app) watchPods(ctx context.Context, names []string, p *printer, sel labels.Selector, noHeaders bool) int {
	if len(names) > 1 {
		return a.fail(fmt.Errorf("watch is only supported on individual resources and resource collections, but %d resources were found", len(names)))
	}
	c := a.client()
	var ch <-chan api.WatchEvent
	var err error
	if len(names) == 1 {
		ch, err = c.WatchPod(ctx, a.namespace, names[0])
	} else {
		ch, err = c.WatchPods(ctx, a.listNamespace())
	}
	if err != nil {
		return a.fail(err)
	}
	t := &watchTable{w: a.stdout}
	header := !noHeaders
	for ev := range ch {
		pod := ev.Pod
		if !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if p.format == "custom-columns" {
			pod.Kind, pod.APIVersion = "Pod", "v1"
			cells, err := customCells(p.cols, &pod)
			if err != nil {
				return a.fail(err)
			}
			rows := [][]string{cells}
			if header {
				rows = append([][]string{customHeader(p.cols)}, rows...)
				header = false
			}
			t.write(rows)
			continue
		}
		if p.format != "" && p.format != "wide" {
			pod.Kind, pod.APIVersion = "Pod", "v1"
			if err := p.printObject(a.stdout, &pod, "pod", []string{pod.Name}); err != nil {
				return a.fail(err)
			}
			continue
		}
		rows := [][]string{a.podCells(&pod, p.format == "wide")}
		if header {
			rows = append([][]string{a.podHeader(p.format == "wide")}, rows...)
			header = false
		}
		t.write(rows)
	}
	return 0
}

// watchTable prints rows as they come, keeping every column at least as
// wide as it has been so far (like kubectl's tabwriter with remembered
// widths), so later lines line up with the header.
type watchTable struct {
	w      io.Writer
	widths []int
}

func (t *watchTable) write(rows [][]string) {
	for _, r := range rows {
		for i, c := range r {
			if i == len(r)-1 {
				break
			}
			for len(t.widths) <= i {
				t.widths = append(t.widths, 6)
			}
			t.widths[i] = max(t.widths[i], utf8.RuneCountInString(c)+3)
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", t.widths[i]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteByte('\n')
	}
	io.WriteString(t.w, b.String())
}
