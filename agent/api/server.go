package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Server serves a Backend over HTTP/JSON on a unix socket.
type Server struct {
	b        Backend
	log      *slog.Logger
	mux      *http.ServeMux
	podTable func(pods []v1.Pod, now time.Time) any
	clockNow func() time.Time
}

// NewServer returns a Server for b. log may be nil (then slog.Default()).
// When b is also a Streamer, the pods' exec, attach and portforward
// subresources are served too; when it is an Imager, /images.
func NewServer(b Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{b: b, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

// SetPodTable makes pod lists answer a request that accepts
// `application/json;as=Table` (kubectl's server-side printing) with
// render's table instead of a PodList, the rows computed at now(). Without
// it, such a request gets the PodList. Call it before Serve.
func (s *Server) SetPodTable(render func(pods []v1.Pod, now time.Time) any, now func() time.Time) {
	s.podTable, s.clockNow = render, now
}

// Handler returns the HTTP handler, for serving on another listener.
func (s *Server) Handler() http.Handler { return s.mux }

// Handle serves h at pattern (e.g. "GET /metrics") beside the API's own
// routes. Call it before Serve.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

func (s *Server) routes() {
	const ns = "/api/v1/namespaces/{ns}"
	s.mux.HandleFunc("GET /api/v1/pods", s.listPods)
	s.mux.HandleFunc("GET "+ns+"/pods", s.listPods)
	s.mux.HandleFunc("POST "+ns+"/pods", s.applyPod)
	s.mux.HandleFunc("GET "+ns+"/pods/{name}", s.getPod)
	s.mux.HandleFunc("PUT "+ns+"/pods/{name}", s.applyPod)
	s.mux.HandleFunc("DELETE "+ns+"/pods/{name}", s.deletePod)
	s.mux.HandleFunc("POST "+ManifestApplyPath, s.applyManifest)
	s.mux.HandleFunc("GET "+ns+"/pods/{name}/log", s.podLog)
	s.mux.HandleFunc("GET "+ns+"/events", s.listEvents)
	s.mux.HandleFunc("GET /api/v1/events", s.listEvents)
	s.mux.HandleFunc("GET /api/v1/nodes", s.listNodes)
	s.mux.HandleFunc("GET /api/v1/nodes/{name}", s.getNode)
	s.mux.HandleFunc("PUT /api/v1/nodes/{name}", s.putNode)
	if st, ok := s.b.(Streamer); ok {
		s.streamRoutes(st)
	}
	if im, ok := s.b.(Imager); ok {
		s.imageRoutes(im)
	}
	s.mux.HandleFunc("GET /stats/summary", s.statsSummary)
	s.debugRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
			Message: fmt.Sprintf("the server could not find the requested resource (%s %s)", r.Method, r.URL.Path),
		}})
	})
}

// Serve listens on socketPath until ctx ends. It creates the parent
// directory (0755), replaces a stale socket file and makes the socket 0600.
// Requests in flight (watches, followed logs) end with ctx.
func (s *Server) Serve(ctx context.Context, socketPath string) error {
	if err := os.MkdirAll(filepath.Dir(socketPath), 0o755); err != nil {
		return fmt.Errorf("create socket directory: %w", err)
	}
	if err := os.Remove(socketPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", socketPath, err)
	}
	ln, err := net.Listen("unix", socketPath)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", socketPath, err)
	}
	if err := os.Chmod(socketPath, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("chmod socket %s: %w", socketPath, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	}()
	s.log.Info("API listening", "socket", socketPath)
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	cancel()
	<-done
	_ = os.Remove(socketPath)
	return err
}
