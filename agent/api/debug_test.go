package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/miniagent/miniagent/agent/api/apitest"
)

func TestDebugGoroutines(t *testing.T) {
	sock := start(t, apitest.New())
	code, hdr, body := raw(t, sock, "GET", "/debug/goroutines", "")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /debug/goroutines: %d %q %s", code, hdr.Get("Content-Type"), body)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(body))); err != nil || n < 2 {
		t.Errorf("goroutine count %q: want a number > 1 (err %v)", body, err)
	}
	code, _, body = raw(t, sock, "GET", "/debug/goroutines?debug=1", "")
	if code != http.StatusOK || !strings.HasPrefix(string(body), "goroutine profile: total ") {
		t.Errorf("debug=1: %d %.80s", code, body)
	}
	if code, _, _ = raw(t, sock, "GET", "/debug/goroutines?debug=x", ""); code != http.StatusBadRequest {
		t.Errorf("debug=x: %d, want 400", code)
	}
}

func TestDebugPprof(t *testing.T) {
	sock := start(t, apitest.New())
	code, _, body := raw(t, sock, "GET", "/debug/pprof/heap?debug=1", "")
	if code != http.StatusOK || !strings.HasPrefix(string(body), "heap profile: ") {
		t.Errorf("GET /debug/pprof/heap?debug=1: %d %.80s", code, body)
	}
	code, _, body = raw(t, sock, "GET", "/debug/pprof/", "")
	if code != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("GET /debug/pprof/: %d %.80s", code, body)
	}
}
