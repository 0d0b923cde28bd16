package kubeapi

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent/api"
)

// Options configure a Server.
type Options struct {
	// Backend is the agent (also an api.Streamer for exec, attach and
	// port-forward).
	Backend api.Backend
	// Token is the bearer token every request must carry.
	Token string
	Log   *slog.Logger
	Clock clock.PassiveClock // default: the real clock
}

// Server serves the Kubernetes API for a Backend.
type Server struct {
	b     api.Backend
	local http.Handler // the local API's handlers
	token string
	log   *slog.Logger
	clock clock.PassiveClock
	mux   *http.ServeMux

	fm    *managedfields.FieldManager
	write sync.Mutex // one read-modify-write of a pod at a time
	mf    *managedFieldsStore
	snaps *snapshots[v1.Pod]
	evs   *snapshots[v1.Event]
}

// New returns a Server for o.Backend.
func New(o Options) (*Server, error) {
	if o.Token == "" {
		return nil, errors.New("kubeapi: a bearer token is required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	fm, err := newFieldManager()
	if err != nil {
		return nil, err
	}
	first := uint64(o.Clock.Now().UnixMicro())
	s := &Server{
		b: o.Backend, local: api.NewServer(o.Backend, o.Log).Handler(), token: o.Token,
		log: o.Log, clock: o.Clock, mux: http.NewServeMux(),
		fm: fm, mf: newManagedFieldsStore(), snaps: newSnapshots(snapshotsKept, first, podKey),
		evs: newSnapshots(snapshotsKept, first, eventKey),
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	const ns = "/api/v1/namespaces/{ns}"
	m := s.mux
	m.HandleFunc("GET /version", s.version)
	m.HandleFunc("GET /api", s.apiVersions)
	m.HandleFunc("GET /api/v1", s.resourceList)
	m.HandleFunc("GET /apis", s.groupList)
	m.HandleFunc("GET /openapi/v3", s.openAPIPaths)
	m.HandleFunc("GET /openapi/v3/api/v1", s.openAPIDoc)

	m.HandleFunc("GET /api/v1/pods", s.listPods)
	m.HandleFunc("GET "+ns+"/pods", s.listPods)
	m.HandleFunc("GET "+ns+"/pods/{name}", s.getPod)
	m.HandleFunc("GET "+ns+"/pods/{name}/status", s.getPod)
	m.HandleFunc("POST "+ns+"/pods", s.createPod)
	m.HandleFunc("PATCH "+ns+"/pods/{name}", s.patchPod)
	m.HandleFunc("DELETE "+ns+"/pods/{name}", s.deletePod)
	for _, sub := range []string{"log", "exec", "attach", "portforward"} {
		m.Handle("GET "+ns+"/pods/{name}/"+sub, s.local)
		if sub != "log" {
			m.Handle("POST "+ns+"/pods/{name}/"+sub, s.local)
		}
	}

	m.HandleFunc("GET /api/v1/events", s.listEvents)
	m.HandleFunc("GET "+ns+"/events", s.listEvents)
	m.HandleFunc("GET /api/v1/nodes", s.listNodes)
	m.HandleFunc("GET /api/v1/nodes/{name}", s.getNode)
	m.HandleFunc("PATCH /api/v1/nodes/{name}", s.patchNode)
	m.HandleFunc("GET /api/v1/namespaces", s.listNamespaces)
	m.HandleFunc("GET /api/v1/namespaces/{name}", s.getNamespace)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
			Message: "the server could not find the requested resource",
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeUnexpectedServerResponse, Message: "404 page not found"}}},
		}})
	})
}

// Handler is the API with bearer-token authentication in front.
func (s *Server) Handler() http.Handler {
	want := []byte("Bearer " + s.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			api.WriteError(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		s.mux.ServeHTTP(w, r)
	})
}

// Serve listens on addr with TLS (cert) until ctx ends. It speaks
// HTTP/1.1 only: exec, attach and port-forward upgrade the connection
// (SPDY, WebSocket), which HTTP/2 cannot.
func (s *Server) Serve(ctx context.Context, addr string, cert tls.Certificate) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("kubernetes API: listen on %s: %w", addr, err)
	}
	return s.ServeListener(ctx, ln, cert)
}

// ServeListener is Serve on a listener of the caller's (it is closed).
func (s *Server) ServeListener(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
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
	s.log.Info("Kubernetes API listening", "address", ln.Addr().String())
	err := srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	cancel()
	<-done
	return err
}

// userAgentManager is the apiserver's default field manager: the
// User-Agent up to its first "/" (kubectl sends its own names anyway).
func userAgentManager(r *http.Request) string {
	if m := r.URL.Query().Get("fieldManager"); m != "" {
		return m
	}
	ua, _, _ := strings.Cut(r.UserAgent(), "/")
	if ua == "" {
		return "unknown"
	}
	return ua
}
