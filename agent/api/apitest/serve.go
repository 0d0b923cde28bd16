package apitest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miniagent/miniagent/agent/api"
)

// Serve serves srv on the unix socket sock until the test ends and
// returns once the socket answers.
func Serve(t testing.TB, srv *api.Server, sock string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, sock); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return
		}
		if i > 400 {
			t.Fatal("server did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
