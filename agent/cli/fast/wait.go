package fast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// WaitQuery is a parsed `wait --for=condition=TYPE[=VALUE] pod/NAME` call
// this package can answer.
type WaitQuery struct {
	Socket    string
	Namespace string
	Name      string
	Condition string        // the condition's type, matched without regard to case
	Value     string        // the status wanted, "true" unless given
	Timeout   time.Duration // 0: look once
}

var waitFlags = flagSpec{
	"--socket": {"socket", true}, "-n": {"namespace", true}, "--namespace": {"namespace", true},
	"--for": {"for", true}, "--timeout": {"timeout", true},
}

// ParseWait tells whether args are a `wait` this package answers: one pod
// (pod/NAME, or pod NAME), --for=condition=TYPE[=VALUE], and no flag but
// --timeout, -n and --socket. Deletion, jsonpath, selectors and several
// pods are the full CLI's.
func ParseWait(args []string, socket string) (WaitQuery, bool) {
	s, ok := scan(args, waitFlags)
	q := WaitQuery{Socket: s.last("socket", socket), Namespace: s.last("namespace", "default"), Timeout: 30 * time.Second}
	if !ok || len(s.vals["for"]) != 1 || q.Socket == "" || q.Namespace == "" || len(s.pos) < 2 || s.pos[0] != "wait" {
		return q, false
	}
	switch res, name, slash := strings.Cut(s.pos[1], "/"); {
	case slash && len(s.pos) == 2 && isPods(res):
		q.Name = name
	case !slash && len(s.pos) == 3 && isPods(res) && !strings.Contains(s.pos[2], "/"):
		q.Name = s.pos[2]
	default:
		return q, false
	}
	kind, cond, _ := strings.Cut(s.vals["for"][0], "=")
	if !strings.EqualFold(kind, "condition") || q.Name == "" {
		return q, false
	}
	q.Condition, q.Value = cond, "true"
	if c, v, ok := strings.Cut(cond, "="); ok {
		q.Condition, q.Value = c, v
	}
	if q.Condition == "" {
		return q, false
	}
	if s.has("timeout") {
		d, err := time.ParseDuration(s.last("timeout", ""))
		if err != nil {
			return q, false
		}
		q.Timeout = d
	}
	if q.Timeout < 0 {
		q.Timeout = 7 * 24 * time.Hour // the full CLI's "forever"
	}
	return q, true
}

func isPods(res string) bool { return res == "pod" || res == "pods" || res == "po" }

// podState is the part of a pod a condition wait reads.
type podState struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

// met is the full CLI's rule: the first condition of the type decides.
func (q WaitQuery) met(p *podState) bool {
	for _, c := range p.Status.Conditions {
		if strings.EqualFold(c.Type, q.Condition) {
			return strings.EqualFold(c.Status, q.Value)
		}
	}
	return false
}

// Wait follows the daemon's watch of the pod until the condition holds
// ("pod/NAME condition met") or the timeout passes (kubectl's "timed out
// waiting for the condition on pods/NAME", exit code 1). handled is false,
// with nothing written, when the pod is not there, the daemon does not
// answer as expected or the watch ends early: the full CLI then waits
// (from the start of its own timeout) and says what is wrong.
func Wait(ctx context.Context, q WaitQuery, stdout, stderr io.Writer) (rc int, handled bool) {
	deadline := time.Now().Add(q.Timeout)
	path := "/api/v1/namespaces/" + url.PathEscape(q.Namespace) + "/pods/" + url.PathEscape(q.Name)
	var watch *response
	if q.Timeout > 0 {
		// Watch first, then read the pod: no change falls between the two.
		wctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		var err error
		if watch, err = exchange(wctx, q.Socket, "GET", path+"?watch=true", nil, nil); err != nil {
			return 0, false
		}
		defer watch.Close()
		if watch.status != 200 {
			return 0, false
		}
	}
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	get, err := exchange(gctx, q.Socket, "GET", path, nil, nil)
	if err != nil {
		return 0, false
	}
	defer get.Close()
	var p podState
	if get.status != 200 || json.NewDecoder(get.body).Decode(&p) != nil || p.Metadata.Name != q.Name {
		return 0, false
	}
	if q.met(&p) {
		fmt.Fprintf(stdout, "pod/%s condition met\n", q.Name)
		return 0, true
	}
	if watch == nil {
		return q.timedOut(stderr), true
	}
	for {
		line, err := watch.body.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() == nil && !time.Now().Before(deadline) {
				return q.timedOut(stderr), true
			}
			return 0, false // the watch ended: the full CLI's turn
		}
		var ev struct {
			Type   string   `json:"type"`
			Object podState `json:"object"`
		}
		if json.Unmarshal(line, &ev) != nil || ev.Type == "DELETED" {
			continue
		}
		if q.met(&ev.Object) {
			fmt.Fprintf(stdout, "pod/%s condition met\n", q.Name)
			return 0, true
		}
	}
}

// timedOut prints the full CLI's timeout error and returns its exit code.
func (q WaitQuery) timedOut(stderr io.Writer) int {
	fmt.Fprintf(stderr, "error: timed out waiting for the condition on pods/%s\n", q.Name)
	return 1
}
