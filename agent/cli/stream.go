package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"
	streamspdy "k8s.io/streaming/pkg/httpstream/spdy"
	utilexec "k8s.io/utils/exec"

	"golang.org/x/term"
)

// streamURL is the URL of a pod subresource (exec, attach, portforward)
// on the daemon's socket.
func streamURL(namespace, pod, sub string, q url.Values) *url.URL {
	return &url.URL{
		Scheme:   "http",
		Host:     "miniagent",
		Path:     "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(pod) + "/" + sub,
		RawQuery: q.Encode(),
	}
}

// spdyTransport returns client-go's SPDY round tripper dialling the
// daemon's unix socket (what kubectl does over TLS to the API server).
func spdyTransport(socket string) (*streamspdy.SpdyRoundTripper, error) {
	unix := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return streamspdy.NewRoundTripperWithConfig(streamspdy.RoundTripperConfig{
		UpgradeTransport: unix,
		PingPeriod:       5 * time.Second,
	})
}

// streamExec runs a remote command (exec or attach) over SPDY.
func streamExec(ctx context.Context, socket string, u *url.URL, opts remotecommand.StreamOptions) error {
	rt, err := spdyTransport(socket)
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewSPDYExecutorForTransports(rt, spdy.NewUpgraderForStreaming(rt), http.MethodPost, u)
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, opts)
}

// spdyDialer is the port-forward dialer over the daemon's socket.
func spdyDialer(socket string, u *url.URL) (streamhttp.Dialer, error) {
	rt, err := spdyTransport(socket)
	if err != nil {
		return nil, err
	}
	return spdy.NewDialerForStreaming(spdy.NewUpgraderForStreaming(rt), &http.Client{Transport: rt}, http.MethodPost, u), nil
}

// exitCode maps the result of a remote command to the CLI's exit code and
// what kubectl prints on stderr: a command's non-zero exit is its exit
// code with "command terminated with exit code N"; any other failure is 1
// with the error.
func exitCode(err error) (int, string) {
	if err == nil {
		return 0, ""
	}
	var ee utilexec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitStatus(), fmt.Sprintf("command terminated with exit code %d\n", ee.ExitStatus())
	}
	return 1, FormatError(err)
}

// terminal is the local side of a -t session: raw mode on the input and
// the sizes of the output terminal, sent again on every SIGWINCH.
type terminal struct {
	inFd, sizeFd int
	restore      *term.State
	sizes        chan *remotecommand.TerminalSize
	stop         chan struct{}
}

// fdOf returns the file descriptor of a terminal, or -1.
func fdOf(v any) int {
	f, ok := v.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return -1
	}
	return int(f.Fd())
}

// openTerminal puts stdin in raw mode. ok is false when stdin is no
// terminal (kubectl then goes on without a TTY).
func openTerminal(stdin, stdout any) (*terminal, bool, error) {
	in := fdOf(stdin)
	if in < 0 {
		return nil, false, nil
	}
	sizeFd := fdOf(stdout)
	if sizeFd < 0 {
		sizeFd = in
	}
	st, err := term.MakeRaw(in)
	if err != nil {
		return nil, false, fmt.Errorf("put the terminal in raw mode: %w", err)
	}
	t := &terminal{inFd: in, sizeFd: sizeFd, restore: st, sizes: make(chan *remotecommand.TerminalSize, 1), stop: make(chan struct{})}
	t.push()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-t.stop:
				return
			case <-winch:
				t.push()
			}
		}
	}()
	return t, true, nil
}

// push queues the current size, replacing one not yet sent. A terminal
// without a size (0x0, as script(1) gives when its own input is no
// terminal) is sent too, as kubectl does: the agent then starts the
// command at once rather than wait for a size that will not come.
func (t *terminal) push() {
	w, h, err := term.GetSize(t.sizeFd)
	if err != nil || w < 0 || h < 0 || w > math.MaxUint16 || h > math.MaxUint16 {
		return
	}
	sz := &remotecommand.TerminalSize{Width: uint16(w), Height: uint16(h)}
	select {
	case t.sizes <- sz:
	default:
		select {
		case <-t.sizes:
		default:
		}
		select {
		case t.sizes <- sz:
		default:
		}
	}
}

// Next implements remotecommand.TerminalSizeQueue; nil ends the queue.
func (t *terminal) Next() *remotecommand.TerminalSize {
	select {
	case sz := <-t.sizes:
		return sz
	case <-t.stop:
		return nil
	}
}

// Close restores the terminal.
func (t *terminal) Close() {
	close(t.stop)
	_ = term.Restore(t.inFd, t.restore)
}

// readerOnly hides everything but Read (client-go closes an io.Closer stdin).
type readerOnly struct{ io.Reader }
