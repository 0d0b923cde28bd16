package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/miniagent/miniagent/agent/api"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// logsFlags are the parsed flags of `logs`.
type logsFlags struct {
	opts          api.LogOptions
	allContainers bool
	prefix        bool
	selector      string
	pod           string
}

// parseLogsArgs reads kubectl's logs flags and arguments and checks the
// combinations kubectl refuses.
func (a *app) parseLogsArgs(args []string) (logsFlags, error) {
	var f logsFlags
	fs := a.flagSet("logs")
	fs.StringVarP(&f.opts.Container, "container", "c", "", "container name")
	fs.BoolVarP(&f.opts.Previous, "previous", "p", false, "the previous instance of the container")
	fs.BoolVarP(&f.opts.Follow, "follow", "f", false, "stream the log")
	fs.BoolVar(&f.opts.Timestamps, "timestamps", false, "prefix lines with their timestamp")
	tail := fs.Int64("tail", -1, "lines to show from the end; -1 = all (10 with -l)")
	since := fs.Duration("since", 0, "only lines newer than this (e.g. 5s, 2m, 3h)")
	sinceTime := fs.String("since-time", "", "only lines after this RFC3339 time")
	limit := fs.Int64("limit-bytes", 0, "stop after this many bytes")
	fs.BoolVar(&f.allContainers, "all-containers", false, "every container of the pod(s)")
	fs.BoolVar(&f.prefix, "prefix", false, "prefix each line with [pod/NAME/CONTAINER]")
	fs.StringVarP(&f.selector, "selector", "l", "", "label selector")
	rest, err := a.parse(fs, args)
	if err != nil {
		return f, err
	}
	switch {
	case len(rest) == 0 && f.selector == "":
		return f, errors.New("expected POD_NAME [CONTAINER_NAME]: miniagent logs NAME [-c CONTAINER]")
	case len(rest) > 0 && f.selector != "":
		return f, errors.New("only a selector (-l) or a POD name is allowed")
	case len(rest) > 2:
		return f, errors.New("expected POD_NAME [CONTAINER_NAME]: miniagent logs NAME [-c CONTAINER]")
	}
	if len(rest) > 0 {
		f.pod = rest[0]
		if r, n, ok := strings.Cut(f.pod, "/"); ok {
			if canonical(r) != "pods" {
				return f, fmt.Errorf("cannot get the logs from %s", r)
			}
			f.pod = n
		}
	}
	if len(rest) == 2 {
		if f.opts.Container != "" {
			return f, errors.New("only one of -c or an inline [CONTAINER] arg is allowed")
		}
		f.opts.Container = rest[1]
	}
	if f.allContainers && f.opts.Container != "" {
		return f, errors.New("--all-containers=true should not be specified with container name")
	}
	if *since != 0 && *sinceTime != "" {
		return f, errors.New("at most one of `sinceTime` or `sinceSeconds` may be specified")
	}
	if *since < 0 {
		return f, errors.New("--since must be greater than 0")
	}
	if *since > 0 {
		secs := int64((*since + time.Second - 1) / time.Second)
		f.opts.SinceSeconds = &secs
	}
	if *sinceTime != "" {
		t, err := time.Parse(time.RFC3339, *sinceTime)
		if err != nil {
			return f, fmt.Errorf("invalid --since-time %q: %v", *sinceTime, err)
		}
		mt := metav1.NewTime(t)
		f.opts.SinceTime = &mt
	}
	if fs.Changed("limit-bytes") {
		if *limit <= 0 {
			return f, errors.New("--limit-bytes must be greater than 0")
		}
		f.opts.LimitBytes = limit
	}
	switch {
	case *tail >= 0:
		f.opts.TailLines = tail
	case *tail < -1:
		return f, errors.New("--tail must be greater than or equal to -1")
	case f.selector != "":
		ten := int64(10) // kubectl's default tail with a selector
		f.opts.TailLines = &ten
	}
	return f, nil
}

// logTarget is one container log to print.
type logTarget struct{ pod, container string }

func (a *app) logs(ctx context.Context, args []string) int {
	f, err := a.parseLogsArgs(args)
	if err != nil {
		return a.fail(err)
	}
	c := a.client()
	var pods []v1.Pod
	if f.selector != "" {
		sel, err := labels.Parse(f.selector)
		if err != nil {
			return a.fail(err)
		}
		all, err := c.ListPods(ctx, a.namespace)
		if err != nil {
			return a.fail(err)
		}
		for _, p := range all {
			if sel.Matches(labels.Set(p.Labels)) {
				pods = append(pods, p)
			}
		}
		if len(pods) == 0 {
			fmt.Fprintf(a.stderr, "No resources found in %s namespace.\n", a.namespace)
			return 0
		}
	} else if f.allContainers {
		p, err := c.GetPod(ctx, a.namespace, f.pod)
		if err != nil {
			return a.fail(err)
		}
		pods = []v1.Pod{*p}
	}
	var targets []logTarget
	if pods == nil {
		targets = []logTarget{{f.pod, f.opts.Container}}
	}
	for _, p := range pods {
		switch {
		case f.allContainers:
			for _, ct := range p.Spec.InitContainers {
				targets = append(targets, logTarget{p.Name, ct.Name})
			}
			for _, ct := range p.Spec.Containers {
				targets = append(targets, logTarget{p.Name, ct.Name})
			}
		case f.opts.Container != "":
			targets = append(targets, logTarget{p.Name, f.opts.Container})
		default:
			targets = append(targets, logTarget{p.Name, p.Spec.Containers[0].Name})
		}
	}
	// The container name is needed for the prefix: the only container.
	if f.prefix && len(targets) == 1 && targets[0].container == "" {
		p, err := c.GetPod(ctx, a.namespace, f.pod)
		if err != nil {
			return a.fail(err)
		}
		targets[0].container = p.Spec.Containers[0].Name
	}
	if f.opts.Follow && len(targets) > 1 {
		return a.followAll(ctx, targets, f)
	}
	rc := 0
	for _, t := range targets {
		if err := a.copyLog(ctx, t, f, a.stdout, false); err != nil {
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprint(a.stderr, FormatError(err))
			rc = 1
			if isUnreachable(err) {
				return rc
			}
		}
	}
	return rc
}

// copyLog writes one container's log to w, prefixed if asked; whole keeps
// lines whole (w is shared with other logs).
func (a *app) copyLog(ctx context.Context, t logTarget, f logsFlags, w io.Writer, whole bool) error {
	opts := f.opts
	opts.Container = t.container
	if f.prefix || whole {
		pw := &prefixWriter{w: w}
		if f.prefix {
			pw.prefix = fmt.Sprintf("[pod/%s/%s] ", t.pod, t.container)
		}
		defer pw.flush()
		w = pw
	}
	return a.client().PodLogs(ctx, a.namespace, t.pod, opts, w)
}

// followAll streams several logs at once, as kubectl -f does for a
// selector or --all-containers; lines stay whole.
func (a *app) followAll(ctx context.Context, targets []logTarget, f logsFlags) int {
	out := &lockedWriter{w: a.stdout}
	errs := make(chan error, len(targets))
	for _, t := range targets {
		go func() { errs <- a.copyLog(ctx, t, f, out, true) }()
	}
	rc := 0
	for range targets {
		if err := <-errs; err != nil && ctx.Err() == nil {
			out.mu.Lock()
			fmt.Fprint(a.stderr, FormatError(err))
			out.mu.Unlock()
			rc = 1
		}
	}
	return rc
}

// prefixWriter writes each line with a prefix; it keeps an unfinished
// line until its end (or flush) so lines of several logs do not mix.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	var out bytes.Buffer
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		out.WriteString(p.prefix)
		out.Write(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	if out.Len() > 0 {
		if _, err := p.w.Write(out.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf))
		p.buf = nil
	}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
