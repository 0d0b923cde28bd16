package containerd

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// How each exec runs: through the container's exec server or runc exec
// (pure deciders), and the exec server's mount and IO as containerd sees
// them.

// Reasons an exec went through runc exec instead of the exec server: the
// values of the reason label of miniagent_exec_fallbacks_total.
const (
	FallbackNoHelper    = "no_helper"      // the daemon has no helper, or the container was created without it
	FallbackBusy        = "busy"           // another exec of the same container is on its server right now
	FallbackStartFailed = "start_failed"   // the server could not start (or did not, recently)
	FallbackServerDied  = "server_died"    // the server ended during the request
	FallbackProtocol    = "protocol_error" // the server answered out of protocol
	FallbackServerError = "server_error"   // the server could not fork, or make a pipe or pidfd (a seccomp profile may forbid pidfd_open)
)

// execState is what decides how a container's next exec runs.
type execState struct {
	noHelper bool      // the container has no helper: always runc exec
	failedAt time.Time // last failed server start
	srv      *execServer
}

// execPlan is how an exec runs.
type execPlan int

const (
	planRunc  execPlan = iota // runc exec (with a fallback reason)
	planUse                   // the running server
	planStart                 // start a server, then use it
)

// chooseExec decides how the next exec of a container runs, from whether
// the runtime has a helper and the container's exec state at now.
func chooseExec(haveHelper bool, e execState, now time.Time) (execPlan, string) {
	switch {
	case !haveHelper || e.noHelper:
		return planRunc, FallbackNoHelper
	case e.srv != nil && !e.srv.isDead():
		return planUse, ""
	case !e.failedAt.IsZero() && now.Sub(e.failedAt) < execRetryAfter:
		return planRunc, FallbackStartFailed
	}
	return planStart, ""
}

// fallbackFor says what a failed request to a server means: runc exec with
// a reason, or (reason "") the error is the exec's answer.
func fallbackFor(err, ctxErr error) string {
	switch {
	case ctxErr != nil:
		return ""
	case errors.Is(err, errExecProtocol):
		return FallbackProtocol
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "" // hung past timeout + slack: the command timed out
	}
	return FallbackServerDied
}

// withExecHelper bind-mounts the helper read-only at ExecHelperPath.
func withExecHelper(host string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: ExecHelperPath, Type: "bind", Source: host,
			Options: []string{"bind", "ro", "nosuid", "nodev"},
		})
		return nil
	}
}

// fifoIO is the server's IO as containerd sees it: two FIFO paths whose
// other ends the runtime holds itself.
type fifoIO struct{ cfg cio.Config }

func (f fifoIO) Config() cio.Config { return f.cfg }
func (fifoIO) Cancel()              {}
func (fifoIO) Wait()                {}
func (fifoIO) Close() error         { return nil }
