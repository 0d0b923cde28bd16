package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// TerminalSize is a terminal's size in character cells.
type TerminalSize struct {
	Width, Height uint16
}

// Streams connect an exec or attach session to its client. A nil stream
// was not asked for.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer // nil with TTY: the terminal carries both outputs
	TTY    bool
	Resize <-chan TerminalSize // with TTY: the client's terminal sizes
}

// Streamer is what the exec, attach and port-forward endpoints serve. The
// agent implements it. Errors are apierrors values, as for Backend.
type Streamer interface {
	// StreamTarget checks, before the connection is upgraded, that the pod
	// exists and, when forContainer, that container (defaulted when "" and
	// the pod has one container) is running. It returns the pod's UID and
	// the container's name.
	StreamTarget(ctx context.Context, namespace, pod, container string, forContainer bool) (uid, name string, err error)
	// ExecInContainer runs cmd in the container with streams and returns
	// the command's exit code.
	ExecInContainer(ctx context.Context, namespace, pod, container string, cmd []string, st Streams) (exitCode int, err error)
	// AttachContainer streams the running container's output until it
	// exits or ctx ends.
	AttachContainer(ctx context.Context, namespace, pod, container string, st Streams) error
	// PortForward connects stream to port on the pod's loopback.
	PortForward(ctx context.Context, namespace, pod string, port int32, stream io.ReadWriteCloser) error
}

// Stream timeouts, kubelet's defaults: an idle session ends after 4 h; the
// client has 30 s to open its streams after the upgrade.
const (
	StreamIdleTimeout     = 4 * time.Hour
	StreamCreationTimeout = 30 * time.Second
)

// StreamHandlers serve exec, attach and port-forward sessions over SPDY
// and WebSocket (the protocols kubelet speaks, through kubelet's own
// server code in k8s.io/cri-streaming). They are independent of where
// they are mounted: the local API mounts them under pods/{name}/exec,
// a kubelet-style server can mount them under /exec/{ns}/{pod}/{container}.
type StreamHandlers struct {
	s   Streamer
	log *slog.Logger
}

// NewStreamHandlers returns handlers serving s. log may be nil.
func NewStreamHandlers(s Streamer, log *slog.Logger) *StreamHandlers {
	if log == nil {
		log = slog.Default()
	}
	return &StreamHandlers{s: s, log: log}
}

// ServeExec runs the command given by the request's `command` parameters
// (stdin, stdout, stderr and tty as in the Kubernetes API) in the container.
func (h *StreamHandlers) ServeExec(w http.ResponseWriter, r *http.Request, namespace, pod, container string) {
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		WriteError(w, apierrors.NewBadRequest("you must specify a command (the command parameter)"))
		return
	}
	opts, err := StreamOptions(r.URL.Query())
	if err != nil {
		WriteError(w, err)
		return
	}
	uid, name, err := h.s.StreamTarget(r.Context(), namespace, pod, container, true)
	if err != nil {
		WriteError(w, err)
		return
	}
	ex := execAdapter{s: h.s, namespace: namespace}
	remotecommand.ServeExec(w, r, ex, pod, uid, name, cmd, opts,
		StreamIdleTimeout, StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// ServeAttach streams the container's output (containers here never have
// stdin or a terminal: the pod spec refuses both).
func (h *StreamHandlers) ServeAttach(w http.ResponseWriter, r *http.Request, namespace, pod, container string) {
	opts, err := StreamOptions(r.URL.Query())
	if err != nil {
		WriteError(w, err)
		return
	}
	uid, name, err := h.s.StreamTarget(r.Context(), namespace, pod, container, true)
	if err != nil {
		WriteError(w, err)
		return
	}
	remotecommand.ServeAttach(w, r, execAdapter{s: h.s, namespace: namespace}, pod, uid, name, opts,
		StreamIdleTimeout, StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// ServePortForward forwards the ports the client asks for (one stream
// pair per connection) to the pod's loopback.
func (h *StreamHandlers) ServePortForward(w http.ResponseWriter, r *http.Request, namespace, pod string) {
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		WriteError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	uid, _, err := h.s.StreamTarget(r.Context(), namespace, pod, "", false)
	if err != nil {
		WriteError(w, err)
		return
	}
	portforward.ServePortForward(w, r, forwardAdapter{s: h.s, namespace: namespace, log: h.log}, pod, uid, opts,
		StreamIdleTimeout, StreamCreationTimeout, portforward.SupportedProtocols)
}

// StreamOptions reads which streams an exec or attach wants, under the
// API server's parameter names (stdin, stdout, stderr, tty: "true" or
// "1", as kubectl sends them) or kubelet's (input, output, error). With a
// TTY there is no separate stderr.
func StreamOptions(q url.Values) (*remotecommand.Options, error) {
	flag := func(names ...string) (bool, error) {
		for _, n := range names {
			v := q.Get(n)
			if v == "" {
				continue
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return false, apierrors.NewBadRequest(fmt.Sprintf("invalid value %q for parameter %s: must be true, false, 1 or 0", v, n))
			}
			if b {
				return true, nil
			}
		}
		return false, nil
	}
	var o remotecommand.Options
	var err error
	for _, f := range []struct {
		dst   *bool
		names []string
	}{{&o.Stdin, []string{"stdin", remotecommand.ExecStdinParam}}, {&o.Stdout, []string{"stdout", remotecommand.ExecStdoutParam}},
		{&o.Stderr, []string{"stderr", remotecommand.ExecStderrParam}}, {&o.TTY, []string{remotecommand.ExecTTYParam}}} {
		if *f.dst, err = flag(f.names...); err != nil {
			return nil, err
		}
	}
	if o.TTY {
		o.Stderr = false
	}
	if !o.Stdin && !o.Stdout && !o.Stderr {
		return nil, apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return &o, nil
}

// execAdapter fits a Streamer to cri-streaming's Executor and Attacher.
type execAdapter struct {
	s         Streamer
	namespace string
}

func (a execAdapter) ExecInContainer(ctx context.Context, pod, _, container string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	code, err := a.s.ExecInContainer(ctx, a.namespace, pod, container, cmd, streamsOf(ctx, in, out, errOut, tty, resize))
	if err != nil {
		return err
	}
	return exitError(code)
}

func (a execAdapter) AttachContainer(ctx context.Context, pod, _, container string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return a.s.AttachContainer(ctx, a.namespace, pod, container, streamsOf(ctx, in, out, errOut, tty, resize))
}

// exitError is what cri-streaming turns into the NonZeroExitCode status
// (client-go then reports "command terminated with exit code N").
func exitError(code int) error {
	if code == 0 {
		return nil
	}
	return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
}

// streamsOf converts the library's streams; nil interfaces stay nil.
func streamsOf(ctx context.Context, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) Streams {
	st := Streams{TTY: tty}
	if in != nil {
		st.Stdin = in
	}
	if out != nil {
		st.Stdout = out
	}
	if errOut != nil && !tty {
		st.Stderr = errOut
	}
	if tty && resize != nil {
		ch := make(chan TerminalSize)
		go func() {
			defer close(ch)
			for {
				select {
				case <-ctx.Done():
					return
				case sz, ok := <-resize:
					if !ok {
						return
					}
					select {
					case ch <- TerminalSize{Width: sz.Width, Height: sz.Height}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
		st.Resize = ch
	}
	return st
}

// forwardAdapter fits a Streamer to cri-streaming's PortForwarder.
type forwardAdapter struct {
	s         Streamer
	namespace string
	log       *slog.Logger
}

func (a forwardAdapter) PortForward(ctx context.Context, pod, _ string, port int32, stream io.ReadWriteCloser) error {
	err := a.s.PortForward(ctx, a.namespace, pod, port, stream)
	if err != nil && ctx.Err() == nil {
		a.log.Info("port forward ended with an error", "namespace", a.namespace, "pod", pod, "port", port, "err", err)
	}
	return err
}

// streamRoutes mounts the handlers under the pod's subresources, with
// GET (WebSocket) and POST (SPDY) as the API server accepts them.
func (s *Server) streamRoutes(st Streamer) {
	h := NewStreamHandlers(st, s.log)
	const pods = "/api/v1/namespaces/{ns}/pods/{name}/"
	for _, m := range []string{"GET ", "POST "} {
		s.mux.HandleFunc(m+pods+"exec", func(w http.ResponseWriter, r *http.Request) {
			h.ServeExec(w, r, r.PathValue("ns"), r.PathValue("name"), r.URL.Query().Get("container"))
		})
		s.mux.HandleFunc(m+pods+"attach", func(w http.ResponseWriter, r *http.Request) {
			h.ServeAttach(w, r, r.PathValue("ns"), r.PathValue("name"), r.URL.Query().Get("container"))
		})
		s.mux.HandleFunc(m+pods+"portforward", func(w http.ResponseWriter, r *http.Request) {
			h.ServePortForward(w, r, r.PathValue("ns"), r.PathValue("name"))
		})
	}
}
