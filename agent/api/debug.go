package api

import (
	"fmt"
	"net/http"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
)

// debugRoutes adds the daemon's self-inspection endpoints:
//
//	GET /debug/goroutines          the number of goroutines, as text
//	GET /debug/goroutines?debug=N  net/http/pprof's goroutine profile text (N = 1 or 2)
//
// Leak checks (scripts/soak.sh) read them over the API socket.
func (s *Server) debugRoutes() {
	s.mux.HandleFunc("GET /debug/goroutines", serveGoroutines)
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
