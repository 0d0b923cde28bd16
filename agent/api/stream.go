package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// wireEvent is one line of a watch stream, shaped like metav1.WatchEvent.
type wireEvent struct {
	Type   string  `json:"type"`
	Object *v1.Pod `json:"object"`
}

// watchPods streams the matching pods as ADDED (the state now, like a
// Kubernetes watch without resourceVersion) and then every change, one JSON
// object per line, until the client or the server goes away.
func (s *Server) watchPods(w http.ResponseWriter, r *http.Request, ns string, q listQuery) {
	ctx := r.Context()
	ch, err := s.b.WatchPods(ctx, ns)
	if err != nil {
		WriteError(w, err)
		return
	}
	pods, err := s.b.ListPods(ctx, ns)
	if err != nil {
		WriteError(w, err)
		return
	}
	serveWatch(ctx, w, pods, ch, func(ev WatchEvent) (string, v1.Pod) { return ev.Type, ev.Pod },
		func(p *v1.Pod) string { return p.Namespace + "/" + p.Name },
		func(typ string, p v1.Pod) (any, bool) {
			if !q.matches(&p) {
				return nil, false
			}
			setPodKind(&p)
			return wireEvent{Type: typ, Object: &p}, true
		})
}

// serveWatch writes a watch stream, one JSON object a line, each flushed:
// initial as ADDED, then every event from ch, until ctx or ch ends or a
// write fails. next splits an event into its type and object; key names
// an object; wire makes the line of one (false: the object is not
// selected, nothing is sent).
//
// The caller subscribes before it lists, so a change made between the two
// is both in initial and on ch. The first event of an object listed in
// initial is therefore dropped when it is the object exactly as listed:
// a watcher sees each state once.
func serveWatch[T, E any](ctx context.Context, w http.ResponseWriter, initial []T, ch <-chan E,
	next func(E) (string, T), key func(*T) string, wire func(typ string, v T) (any, bool)) {
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	send := func(typ string, v T) bool {
		line, ok := wire(typ, v)
		if !ok {
			return true
		}
		if err := enc.Encode(line); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	if flusher != nil {
		flusher.Flush()
	}
	listed := make(map[string]T, len(initial))
	for i := range initial {
		listed[key(&initial[i])] = initial[i]
		if !send("ADDED", initial[i]) {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			typ, v := next(ev)
			k := key(&v)
			if old, ok := listed[k]; ok {
				delete(listed, k)
				if typ != "DELETED" && sameLine(wire, old, v) {
					continue
				}
			}
			if !send(typ, v) {
				return
			}
		}
	}
}

// sameLine tells whether a and b make the same watch line but for its type.
func sameLine[T any](wire func(string, T) (any, bool), a, b T) bool {
	la, okA := wire("", a)
	lb, okB := wire("", b)
	return okA && okB && equality.Semantic.DeepEqual(la, lb)
}

// WriteLogs runs stream with a writer that sends the response header
// (200, text/plain) on the first byte and, when following, flushes every
// write, so log lines reach the client as they come; a stream that ends
// without error or output still gets its empty 200. started tells whether
// the header went out: if not, an error is the caller's to answer.
func WriteLogs(w http.ResponseWriter, follow bool, stream func(io.Writer) error) (started bool, err error) {
	fw := &flushWriter{w: w, follow: follow}
	err = stream(fw)
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if err == nil && !fw.started {
		fw.start()
		return true, nil
	}
	return fw.started, err
}

// flushWriter is WriteLogs' writer.
type flushWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	follow  bool
	started bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started {
		f.start()
	}
	n, err := f.w.Write(p)
	if f.follow {
		if fl, ok := f.w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	return n, err
}

func (f *flushWriter) start() {
	f.started = true
	f.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	f.w.WriteHeader(http.StatusOK)
	if fl, ok := f.w.(http.Flusher); ok && f.follow {
		fl.Flush()
	}
}

func (s *Server) podLog(w http.ResponseWriter, r *http.Request) {
	var opts LogOptions
	var err error
	q := r.URL.Query()
	opts.Container = q.Get("container")
	for key, dst := range map[string]*bool{"previous": &opts.Previous, "follow": &opts.Follow, "timestamps": &opts.Timestamps} {
		if *dst, err = boolParam(r, key); err != nil {
			WriteError(w, err)
			return
		}
	}
	if t := q.Get("tailLines"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid tailLines %q", t)))
			return
		}
		if n >= 0 {
			opts.TailLines = &n
		}
	}
	for key, dst := range map[string]**int64{"sinceSeconds": &opts.SinceSeconds, "limitBytes": &opts.LimitBytes} {
		if v := q.Get(key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid %s %q: must be a positive integer", key, v)))
				return
			}
			*dst = &n
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid sinceTime %q: %v", v, err)))
			return
		}
		mt := metav1.NewTime(t)
		opts.SinceTime = &mt
	}
	if opts.SinceSeconds != nil && opts.SinceTime != nil {
		WriteError(w, apierrors.NewBadRequest("at most one of `sinceTime` or `sinceSeconds` may be specified"))
		return
	}
	started, err := WriteLogs(w, opts.Follow, func(out io.Writer) error {
		return s.b.PodLogs(r.Context(), r.PathValue("ns"), r.PathValue("name"), opts, out)
	})
	switch {
	case err != nil && !started:
		WriteError(w, err)
	case err != nil && r.Context().Err() == nil:
		s.log.Warn("pod log stream ended with an error", "namespace", r.PathValue("ns"), "pod", r.PathValue("name"), "err", err)
	}
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	node, err := s.b.Node(r.Context())
	if err != nil {
		WriteError(w, err)
		return
	}
	if name := r.PathValue("name"); node.Name != name {
		WriteError(w, apierrors.NewNotFound(v1.Resource("nodes"), name))
		return
	}
	node.Kind, node.APIVersion = "Node", "v1"
	WriteJSON(w, http.StatusOK, node)
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	node, err := s.b.Node(r.Context())
	if err != nil {
		WriteError(w, err)
		return
	}
	node.Kind, node.APIVersion = "Node", "v1"
	WriteJSON(w, http.StatusOK, &v1.NodeList{
		TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
		Items:    []v1.Node{*node},
	})
}
