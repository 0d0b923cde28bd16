package kubeletserver

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/miniagent/miniagent/agent/api"
)

// requestError is a bad request's HTTP code and message.
type requestError struct {
	code int
	msg  string
}

func (e *requestError) Error() string { return e.msg }

func badQuery(format string, args ...any) error {
	return &requestError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func invalidQuery(format string, args ...any) error {
	return &requestError{code: http.StatusUnprocessableEntity, msg: fmt.Sprintf(format, args...)}
}

// LogOptions reads kubelet's container log parameters (those of
// v1.PodLogOptions): follow, previous, timestamps, tailLines (or the older
// tail, where "all" means no limit), sinceSeconds, sinceTime (RFC 3339),
// limitBytes. A value that does not parse is 400, one PodLogOptions
// validation refuses (negative tailLines, sinceSeconds or limitBytes
// below 1, both since parameters) is 422, as from kubelet; the message
// names the parameter.
func LogOptions(q url.Values, container string) (api.LogOptions, error) {
	opts := api.LogOptions{Container: container}
	for name, dst := range map[string]*bool{"follow": &opts.Follow, "previous": &opts.Previous, "timestamps": &opts.Timestamps} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return opts, badQuery("%s=%q: want true or false", name, v)
			}
			*dst = b
		}
	}
	tailName, tail := "tailLines", q.Get("tailLines")
	if t := q.Get("tail"); t != "" {
		tailName, tail = "tail", t
		if t == "all" {
			tail = ""
		}
	}
	ints := []struct {
		name, value string
		dst         **int64
		min         int64
	}{{tailName, tail, &opts.TailLines, 0}, {"sinceSeconds", q.Get("sinceSeconds"), &opts.SinceSeconds, 1}, {"limitBytes", q.Get("limitBytes"), &opts.LimitBytes, 1}}
	for _, p := range ints {
		if p.value == "" {
			continue
		}
		n, err := strconv.ParseInt(p.value, 10, 64)
		if err != nil {
			return opts, badQuery("%s=%q: want an integer", p.name, p.value)
		}
		if n < p.min {
			return opts, invalidQuery("%s=%d: must be %d or more", p.name, n, p.min)
		}
		*p.dst = &n
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return opts, badQuery("sinceTime=%q: want an RFC 3339 time: %v", v, err)
		}
		mt := metav1.NewTime(t)
		opts.SinceTime = &mt
	}
	if opts.SinceSeconds != nil && opts.SinceTime != nil {
		return opts, invalidQuery("sinceSeconds and sinceTime: at most one may be given")
	}
	return opts, nil
}

// hasContainer: name is one of the pod's containers, init containers
// included.
func hasContainer(pod *v1.Pod, name string) bool {
	for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	opts, err := LogOptions(r.URL.Query(), container)
	if err != nil {
		writeError(w, err)
		return
	}
	pod, ok := s.pod(w, r, ns, name, "")
	if !ok {
		return
	}
	if !hasContainer(pod, container) {
		http.Error(w, fmt.Sprintf("container %q not found in pod %q", container, name), http.StatusNotFound)
		return
	}
	started, err := api.WriteLogs(w, opts.Follow, func(out io.Writer) error {
		return s.o.Backend.PodLogs(r.Context(), ns, name, opts, out)
	})
	switch {
	case err != nil && !started:
		writeError(w, err)
	case err != nil && r.Context().Err() == nil:
		s.o.Log.Warn("container log stream ended with an error", "namespace", ns, "pod", name, "container", container, "err", err)
	}
}
