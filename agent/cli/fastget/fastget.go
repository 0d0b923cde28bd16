// Package fastget answers the client's most frequent call, `miniagent get
// pods` in the table formats, with the standard library alone: the
// daemon's local API renders the rows (a meta.k8s.io/v1 Table, as the
// apiserver serves `kubectl get`), and this package only prints them. The
// `miniagent` binary links nothing else, so such a call starts and ends in
// a few milliseconds; every other call, and any this package cannot answer
// exactly as the full CLI would (other flags, an error, an old daemon that
// sends a PodList), goes to the full CLI.
//
// It must not import Kubernetes packages: cmd/miniagent's test checks.
package fastget

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Query is a parsed `get pods` call this package can answer.
type Query struct {
	Socket    string
	Namespace string
	All       bool // -A
	Wide      bool // -o wide
	NoHeaders bool
	Selector  string // -l, passed to the server as labelSelector
}

// Parse tells whether args (without the program name) are a `get pods`
// call this package answers, and what it asks. socket and namespace are
// the defaults (--socket / MINIAGENT_SOCKET, "default"). It accepts only
// the flags the full CLI gives the same meaning, flags before or after the
// verb; anything else (names, other outputs, -w, --show-labels, --help…)
// is not ours.
func Parse(args []string, socket string) (Query, bool) {
	q := Query{Socket: socket, Namespace: "default"}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		var name, val string
		var hasVal bool
		if strings.HasPrefix(a, "--") {
			name, val, hasVal = strings.Cut(a, "=")
		} else if name = a[:2]; len(a) > 2 {
			// -nfoo, -n=foo, -owide, -lapp=x: the value attached.
			val, hasVal = strings.TrimPrefix(a[2:], "="), true
		}
		switch name {
		case "-A", "--all-namespaces", "--no-headers":
			if hasVal {
				return q, false
			}
			if name == "--no-headers" {
				q.NoHeaders = true
			} else {
				q.All = true
			}
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return q, false
			}
			i++
			val = args[i]
		}
		switch name {
		case "--socket":
			q.Socket = val
		case "-n", "--namespace":
			q.Namespace = val
		case "-o", "--output":
			if val != "wide" {
				return q, false
			}
			q.Wide = true
		case "-l", "--selector":
			q.Selector = val
		default:
			return q, false
		}
	}
	if len(pos) != 2 || pos[0] != "get" {
		return q, false
	}
	switch pos[1] {
	case "pods", "pod", "po":
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

// Run answers q: the table on stdout, "No resources found…" on stderr as
// the full CLI prints it. It returns false, having written nothing, when
// the daemon's answer is not a Table it can print (unreachable daemon, an
// error status, an old daemon); the caller then runs the full CLI, which
// says what went wrong in its own words.
func Run(ctx context.Context, q Query, stdout, stderr io.Writer) bool {
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

// fetch asks the daemon for the Table in one HTTP/1.0 exchange on its
// socket (the server closes the connection after the body): net/http's
// client, with TLS and HTTP/2 linked in, would cost more to start than
// the whole call. Any answer but 200 with a v1 Table is not ours.
func fetch(ctx context.Context, q Query) (*table, bool) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	path := "/api/v1/namespaces/" + url.PathEscape(q.Namespace) + "/pods"
	if q.All {
		path = "/api/v1/pods"
	}
	if q.Selector != "" {
		path += "?labelSelector=" + url.QueryEscape(q.Selector)
	}
	conn, err := dialUnix(q.Socket)
	if err != nil {
		return nil, false
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := "GET " + path + " HTTP/1.0\r\nHost: miniagent\r\nAccept: application/json;as=Table;v=v1;g=meta.k8s.io\r\nUser-Agent: miniagent\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, false
	}
	resp, err := io.ReadAll(conn)
	if err != nil {
		return nil, false
	}
	head, body, ok := strings.Cut(string(resp), "\r\n\r\n")
	status := strings.Fields(strings.SplitN(head, "\r\n", 2)[0]) // HTTP/1.x 200 OK
	if !ok || len(status) < 2 || !strings.HasPrefix(status[0], "HTTP/1.") || status[1] != "200" {
		return nil, false
	}
	var t table
	if err := json.Unmarshal([]byte(body), &t); err != nil || t.Kind != "Table" || t.APIVersion != "meta.k8s.io/v1" {
		return nil, false
	}
	return &t, true
}

// printTable writes t as the full CLI's `get pods` table: kubectl's tabwriter
// settings, the priority-0 columns (all with -o wide), NAMESPACE first
// with -A. A row whose cells do not match the columns is an error.
func printTable(w io.Writer, q Query, t *table) error {
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

// dialUnix connects to the unix socket at path with the syscall package:
// the net package would link the C resolver (runtime/cgo and libc, a
// dynamic binary), whose start-up costs ~4 ms of every call here. The
// returned file is in the runtime's poller, so deadlines work.
func dialUnix(path string) (*os.File, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		if err != syscall.EINTR {
			break
		}
	}
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	if err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "dial", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
