package fast

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// GetQuery is a parsed `get pods` call this package can answer.
type GetQuery struct {
	Socket    string
	Namespace string
	All       bool // -A
	Wide      bool // -o wide
	NoHeaders bool
	Selector  string // -l, passed to the server as labelSelector
}

var getFlags = flagSpec{
	"-A": {"all", false}, "--all-namespaces": {"all", false}, "--no-headers": {"no-headers", false},
	"--socket": {"socket", true}, "-n": {"namespace", true}, "--namespace": {"namespace", true},
	"-o": {"output", true}, "--output": {"output", true}, "-l": {"selector", true}, "--selector": {"selector", true},
}

// ParseGet tells whether args (without the program name) are a `get pods`
// call this package answers, and what it asks. socket is the default
// (--socket / MINIAGENT_SOCKET). It accepts only the flags the full CLI
// gives the same meaning, where the full CLI takes them (--socket, -n and
// -A anywhere, the others after the verb); anything else (names, other
// outputs, -w, --show-labels, --help…) is not ours.
func ParseGet(args []string, socket string) (GetQuery, bool) {
	s, ok := scan(args, getFlags)
	q := GetQuery{
		Socket: s.last("socket", socket), Namespace: s.last("namespace", "default"),
		All: s.has("all"), NoHeaders: s.has("no-headers"), Selector: s.last("selector", ""),
	}
	if !ok || len(s.pos) != 2 || s.pos[0] != "get" {
		return q, false
	}
	switch s.pos[1] {
	case "pods", "pod", "po":
	default:
		return q, false
	}
	switch s.last("output", "") {
	case "":
	case "wide":
		q.Wide = true
	default:
		return q, false
	}
	if q.Namespace == "" || q.Socket == "" {
		return q, false
	}
	return q, true
}

// table is the part of a meta.k8s.io/v1 Table this package prints.
type table struct {
	Kind              string   `json:"kind"`
	APIVersion        string   `json:"apiVersion"`
	ColumnDefinitions []column `json:"columnDefinitions"`
	Rows              []row    `json:"rows"`
}

type column struct {
	Name     string `json:"name"`
	Priority int    `json:"priority"`
}

type row struct {
	Cells  []any `json:"cells"`
	Object struct {
		Metadata struct {
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	} `json:"object"`
}

// Get answers q: the table on stdout, "No resources found…" on stderr as
// the full CLI prints it. It returns false, having written nothing, when
// the daemon's answer is not a Table it can print (unreachable daemon, an
// error status, an old daemon); the caller then runs the full CLI, which
// says what went wrong in its own words.
func Get(ctx context.Context, q GetQuery, stdout, stderr io.Writer) bool {
	t, ok := fetch(ctx, q)
	if !ok {
		return false
	}
	var b strings.Builder
	if err := printTable(&b, q, t); err != nil {
		return false
	}
	if len(t.Rows) == 0 {
		if q.All {
			fmt.Fprintln(stderr, "No resources found")
		} else {
			fmt.Fprintf(stderr, "No resources found in %s namespace.\n", q.Namespace)
		}
		return true
	}
	_, _ = io.WriteString(stdout, b.String())
	return true
}

// fetch asks the daemon for the Table. Any answer but 200 with a v1 Table
// is not ours.
func fetch(ctx context.Context, q GetQuery) (*table, bool) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	path := "/api/v1/namespaces/" + url.PathEscape(q.Namespace) + "/pods"
	if q.All {
		path = "/api/v1/pods"
	}
	if q.Selector != "" {
		path += "?labelSelector=" + url.QueryEscape(q.Selector)
	}
	resp, err := exchange(ctx, q.Socket, "GET", path, map[string]string{"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}, nil)
	if err != nil {
		return nil, false
	}
	defer resp.Close()
	if resp.status != 200 {
		return nil, false
	}
	var t table
	if err := json.NewDecoder(resp.body).Decode(&t); err != nil || t.Kind != "Table" || t.APIVersion != "meta.k8s.io/v1" {
		return nil, false
	}
	return &t, true
}

// printTable writes t as the full CLI's `get pods` table: kubectl's tabwriter
// settings, the priority-0 columns (all with -o wide), NAMESPACE first
// with -A. A row whose cells do not match the columns is an error.
func printTable(w io.Writer, q GetQuery, t *table) error {
	var keep []int
	var header []string
	if q.All {
		header = append(header, "NAMESPACE")
	}
	for i, c := range t.ColumnDefinitions {
		if c.Priority == 0 || q.Wide {
			keep = append(keep, i)
			header = append(header, strings.ToUpper(c.Name))
		}
	}
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	if !q.NoHeaders {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range t.Rows {
		if len(r.Cells) != len(t.ColumnDefinitions) {
			return fmt.Errorf("row has %d cells for %d columns", len(r.Cells), len(t.ColumnDefinitions))
		}
		var cells []string
		if q.All {
			cells = append(cells, r.Object.Metadata.Namespace)
		}
		for _, i := range keep {
			s, ok := r.Cells[i].(string)
			if !ok {
				s = fmt.Sprint(r.Cells[i])
			}
			cells = append(cells, s)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
