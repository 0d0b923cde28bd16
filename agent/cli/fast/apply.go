package fast

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"
)

// ApplyQuery is a parsed `apply -f FILE` call this package can answer.
type ApplyQuery struct {
	Socket    string
	File      string // a regular file's path
	Namespace string // "" unless -n was given
	Force     bool
}

// manifestApplyPath is api.ManifestApplyPath (the test checks they agree).
const manifestApplyPath = "/miniagent/v1/apply"

// applyResultHeader is api.ApplyResultHeader (the test checks).
const applyResultHeader = "x-miniagent-apply-result"

var applyFlags = flagSpec{
	"--socket": {"socket", true}, "-n": {"namespace", true}, "--namespace": {"namespace", true},
	"-f": {"filename", true}, "--filename": {"filename", true}, "--force": {"force", false},
}

// ParseApply tells whether args are an `apply` of one file this package
// answers: exactly one -f naming a regular file (not -, a directory or a
// URL), and no flag but --socket, -n and --force.
func ParseApply(args []string, socket string) (ApplyQuery, bool) {
	s, ok := scan(args, applyFlags)
	q := ApplyQuery{Socket: s.last("socket", socket), Namespace: s.last("namespace", ""), Force: s.has("force")}
	if !ok || len(s.pos) != 1 || s.pos[0] != "apply" || len(s.vals["filename"]) != 1 || q.Socket == "" {
		return q, false
	}
	if s.has("namespace") && q.Namespace == "" {
		return q, false
	}
	q.File = s.vals["filename"][0]
	if st, err := os.Stat(q.File); err != nil || !st.Mode().IsRegular() {
		return q, false
	}
	return q, true
}

// Apply sends q's file to the daemon, which decodes and applies it, and
// prints "pod/NAME created|configured|unchanged" as the full CLI does.
// handled is false, with nothing written, on any other answer: the daemon
// then has changed nothing (a file that is not exactly one named pod, a
// bad field, a refused change, an old daemon), and the full CLI does the
// whole call again in its own words.
func Apply(ctx context.Context, q ApplyQuery, stdout, stderr io.Writer) (rc int, handled bool) {
	data, err := os.ReadFile(q.File)
	if err != nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	v := url.Values{"source": {q.File}}
	if q.Namespace != "" {
		v.Set("namespace", q.Namespace)
		v.Set("explicitNamespace", "true")
	}
	if q.Force {
		v.Set("force", "true")
	}
	resp, err := exchange(ctx, q.Socket, "POST", manifestApplyPath+"?"+v.Encode(), map[string]string{"Content-Type": "application/yaml"}, data)
	if err != nil {
		return 0, false
	}
	defer resp.Close()
	result := resp.header[applyResultHeader]
	if resp.status != 200 && resp.status != 201 || result == "" {
		return 0, false
	}
	var pod struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(resp.body).Decode(&pod); err != nil || pod.Metadata.Name == "" {
		// Applied, but the answer is unreadable: say so, never apply again.
		fmt.Fprintf(stderr, "error: %s: the pod was %s, but the daemon's answer could not be read (%v)\n", q.File, result, err)
		return 1, true
	}
	fmt.Fprintf(stdout, "pod/%s %s\n", pod.Metadata.Name, result)
	return 0, true
}
