package api

import (
	"fmt"
	"net/http"
	httppprof "net/http/pprof"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
)

// debugRoutes adds the daemon's self-inspection endpoints:
//
//	GET /debug/goroutines          the number of goroutines, as text
//	GET /debug/goroutines?debug=N  net/http/pprof's goroutine profile text (N = 1 or 2)
//	GET /debug/pprof/...           net/http/pprof: profile?seconds=N (CPU), heap, allocs, goroutine, ...
//
// Leak checks (scripts/soak.sh) read them over the API socket, and
// profiles (go tool pprof) are taken through it; the socket is the
// daemon's own (0600), never TCP.
func (s *Server) debugRoutes() {
	s.mux.HandleFunc("GET /debug/goroutines", serveGoroutines)
	s.mux.HandleFunc("GET /debug/pprof/", httppprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/cmdline", httppprof.Cmdline)
	s.mux.HandleFunc("GET /debug/pprof/profile", httppprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/symbol", httppprof.Symbol)
	s.mux.HandleFunc("GET /debug/pprof/trace", httppprof.Trace)
}

func serveGoroutines(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	q := r.URL.Query().Get("debug")
	if q == "" {
		fmt.Fprintln(w, goruntime.NumGoroutine())
		return
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > 2 {
		http.Error(w, fmt.Sprintf("debug=%q: want 1 or 2", q), http.StatusBadRequest)
		return
	}
	_ = pprof.Lookup("goroutine").WriteTo(w, n)
}
