package kubeletserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/miniagent/miniagent/agent/api"
)

// DefaultPort is kubelet's --port.
const DefaultPort = 10250

// Backend is what the server shows: the agent's pods, their logs and
// resource use, and their exec, attach and port-forward sessions
// (agent.Agent implements it). Errors are apierrors values.
type Backend interface {
	api.Streamer
	GetPod(ctx context.Context, namespace, name string) (*v1.Pod, error)
	ListPods(ctx context.Context, namespace string) ([]v1.Pod, error)
	PodLogs(ctx context.Context, namespace, name string, opts api.LogOptions, w io.Writer) error
	Stats(ctx context.Context) (*api.Summary, error)
}

// Options configure the server; cmd/miniagent fills them from kubelet's
// flags.
type Options struct {
	Backend  Backend
	Metrics  http.Handler // /metrics (nil: 404)
	NodeName string
	// Address is the address to listen on (--node-ip); nil: all of the
	// host's, as kubelet's --address 0.0.0.0.
	Address net.IP
	Port    int32 // --port (0: 10250)
	TLS     TLSFiles
	// CertIPs and CertNames are what a self-signed certificate covers:
	// the node's addresses, its name and the host name.
	CertIPs   []net.IP
	CertNames []string
	// Client asks the apiserver TokenReviews and SubjectAccessReviews.
	Client kubernetes.Interface
	// Cache times (0: kubelet's defaults).
	TokenCacheTTL, AllowedTTL, DeniedTTL time.Duration
	Clock                                clock.PassiveClock // nil: the real clock
	Log                                  *slog.Logger
}

// Server is the kubelet server.
type Server struct {
	o       Options
	tlsOnce sync.Once
	tls     *tls.Config
	tlsErr  error
	authn   *authenticator
	authz   *authorizer
	mux     *http.ServeMux
	streams *api.StreamHandlers
	bootAt  time.Time
}

// New checks o, loads the certificate files given and builds the
// handlers. Errors name the flag. A self-signed certificate is made (or
// loaded) only by TLSConfig or Run, off the daemon's start-up path.
func New(o Options) (*Server, error) {
	if o.Backend == nil || o.Client == nil {
		return nil, errors.New("kubelet server: Backend and Client are required")
	}
	if o.NodeName == "" {
		return nil, errors.New("--node-name: must not be empty for the kubelet server")
	}
	switch {
	case o.Port == 0:
		o.Port = DefaultPort
	case o.Port < 0 || o.Port > 65535:
		return nil, fmt.Errorf("--port %d: must be between 1 and 65535", o.Port)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.TokenCacheTTL, DefaultTokenCacheTTL)
	def(&o.AllowedTTL, DefaultAllowedTTL)
	def(&o.DeniedTTL, DefaultDeniedTTL)
	if o.TLS.CertFile != "" || o.TLS.KeyFile != "" {
		if _, err := servingCertificate(o.TLS, o.CertIPs, o.CertNames, o.Clock.Now()); err != nil {
			return nil, err
		}
	}
	var roots *x509.CertPool
	if o.TLS.ClientCAFile != "" {
		var err error
		if roots, err = clientCAs(o.TLS.ClientCAFile); err != nil {
			return nil, err
		}
	}
	s := &Server{
		o:       o,
		authn:   newAuthenticator(roots, o.Client.AuthenticationV1().TokenReviews(), o.Clock, o.TokenCacheTTL),
		authz:   newAuthorizer(o.Client.AuthorizationV1().SubjectAccessReviews(), o.Clock, o.AllowedTTL, o.DeniedTTL),
		mux:     http.NewServeMux(),
		streams: api.NewStreamHandlers(o.Backend, o.Log),
		bootAt:  bootTime(o.Clock.Now()),
	}
	s.routes()
	return s, nil
}

// TLSConfig is the server's TLS configuration, made on the first call.
func (s *Server) TLSConfig() (*tls.Config, error) {
	s.tlsOnce.Do(func() { s.tls, s.tlsErr = tlsConfig(s.o.TLS, s.o.CertIPs, s.o.CertNames, s.o.Clock.Now()) })
	if s.tlsErr != nil {
		return nil, s.tlsErr
	}
	return s.tls.Clone(), nil
}

// Handler serves the kubelet paths behind authentication and
// authorisation; it expects the connection's TLS state.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Addr is the address the server listens on.
func (s *Server) Addr() string {
	host := ""
	if s.o.Address != nil {
		host = s.o.Address.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(s.o.Port)))
}

// Run listens on Addr and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	cfg, err := s.TLSConfig()
	if err != nil {
		return fmt.Errorf("kubelet server: %w", err)
	}
	ln, err := net.Listen("tcp", s.Addr())
	if err != nil {
		return fmt.Errorf("kubelet server: listen on %s (--port): %w", s.Addr(), err)
	}
	srv := &http.Server{Handler: s.Handler(), TLSConfig: cfg, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.o.Log.Handler(), slog.LevelDebug)}
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
	s.o.Log.Info("kubelet server listening", "address", ln.Addr().String(), "client_ca", s.o.TLS.ClientCAFile != "")
	err = srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	<-done
	return err
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	s.mux.HandleFunc("GET /pods", s.listPods)
	s.mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.containerLogs)
	s.mux.HandleFunc("GET /stats/summary", s.statsSummary)
	s.mux.HandleFunc("GET /metrics/resource", s.resourceMetrics)
	if s.o.Metrics != nil {
		s.mux.Handle("GET /metrics", s.o.Metrics)
	}
	for _, m := range []string{"GET ", "POST "} {
		for _, p := range []string{"/{ns}/{pod}/{container}", "/{ns}/{pod}/{uid}/{container}"} {
			s.mux.HandleFunc(m+"/exec"+p, func(w http.ResponseWriter, r *http.Request) {
				if _, ok := s.pod(w, r, r.PathValue("ns"), r.PathValue("pod"), r.PathValue("uid")); ok {
					s.streams.ServeExec(w, r, r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container"))
				}
			})
			s.mux.HandleFunc(m+"/attach"+p, func(w http.ResponseWriter, r *http.Request) {
				if _, ok := s.pod(w, r, r.PathValue("ns"), r.PathValue("pod"), r.PathValue("uid")); ok {
					s.streams.ServeAttach(w, r, r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container"))
				}
			})
		}
		for _, p := range []string{"/{ns}/{pod}", "/{ns}/{pod}/{uid}"} {
			s.mux.HandleFunc(m+"/portForward"+p, func(w http.ResponseWriter, r *http.Request) {
				if _, ok := s.pod(w, r, r.PathValue("ns"), r.PathValue("pod"), r.PathValue("uid")); ok {
					s.streams.ServePortForward(w, r, r.PathValue("ns"), r.PathValue("pod"))
				}
			})
		}
	}
}

// serveHTTP authenticates and authorises the request as kubelet's auth
// filter does (same codes and messages), then routes it.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	u, err := s.authn.authenticate(r)
	if err != nil && !errors.Is(err, errNoCredentials) {
		s.o.Log.Warn("kubelet server: unable to authenticate the request", "path", r.URL.Path, "err", err)
	}
	if u == nil {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	attrs := RequestAttributes(r.Method, r.URL.Path, s.o.NodeName)
	var subs []string
	allowed := false
	for _, a := range attrs {
		subs = append(subs, a.Subresource)
		ok, err := s.authz.allowed(r.Context(), u, a)
		if err != nil {
			s.o.Log.Warn("kubelet server: authorization error", "user", u.Name, "verb", a.Verb, "subresource", a.Subresource, "err", err)
			http.Error(w, fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=nodes, subresource=%s)", u.Name, a.Verb, a.Subresource), http.StatusInternalServerError)
			return
		}
		if ok {
			allowed = true
			break
		}
	}
	if !allowed {
		s.o.Log.Debug("kubelet server: forbidden", "user", u.Name, "verb", attrs[0].Verb, "subresources", subs, "path", r.URL.Path)
		http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource(s)=%v)", u.Name, attrs[0].Verb, subs), http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// pod finds the pod; a missing one (or one with another UID, when uid is
// given) is answered 404 as kubelet does.
func (s *Server) pod(w http.ResponseWriter, r *http.Request, ns, name, uid string) (*v1.Pod, bool) {
	pod, err := s.o.Backend.GetPod(r.Context(), ns, name)
	switch {
	case apierrors.IsNotFound(err):
		http.Error(w, fmt.Sprintf("pod %q does not exist", name), http.StatusNotFound)
		return nil, false
	case err != nil:
		writeError(w, err)
		return nil, false
	case uid != "" && pod.UID != types.UID(uid):
		http.Error(w, fmt.Sprintf("pod %q with UID %s not found", name, uid), http.StatusNotFound)
		return nil, false
	}
	return pod, true
}

func (s *Server) listPods(w http.ResponseWriter, r *http.Request) {
	pods, err := s.o.Backend.ListPods(r.Context(), "")
	if err != nil {
		writeError(w, err)
		return
	}
	list := v1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: pods}
	if list.Items == nil {
		list.Items = []v1.Pod{}
	}
	writeJSON(w, list)
}

func writeJSON(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// writeError answers err as kubelet does: a plain-text message with the
// error's HTTP code (500 when it has none).
func writeError(w http.ResponseWriter, err error) {
	var re *requestError
	var st apierrors.APIStatus
	switch {
	case errors.As(err, &re):
		http.Error(w, re.msg, re.code)
	case errors.As(err, &st) && st.Status().Code != 0:
		http.Error(w, st.Status().Message, int(st.Status().Code))
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
