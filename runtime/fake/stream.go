package fake

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/miniagent/miniagent/runtime"
)

// ExecStream runs the OnExecStream handler for a running container
// (default: copy stdin to stdout, exit code 0).
func (r *Runtime) ExecStream(ctx context.Context, id string, cmd []string, st runtime.ExecStreams) (int, error) {
	r.mu.Lock()
	err := r.begin("ExecStream", "exec-stream "+id+" "+strings.Join(cmd, " "))
	fn := r.streamFn
	if err == nil {
		err = r.execTargetLocked(id)
	}
	r.mu.Unlock()
	if err != nil {
		return -1, err
	}
	if fn != nil {
		return fn(id, append([]string(nil), cmd...), st)
	}
	if st.Stdin != nil && st.Stdout != nil {
		if _, err := io.Copy(st.Stdout, st.Stdin); err != nil {
			return -1, err
		}
	}
	return 0, nil
}

// PortForward dials 127.0.0.1:port on the host (the fake has no network
// namespaces: netnsPath is only logged) and splices it with stream.
func (r *Runtime) PortForward(ctx context.Context, netnsPath string, port int32, stream io.ReadWriteCloser) error {
	r.mu.Lock()
	err := r.begin("PortForward", fmt.Sprintf("port-forward %s %d", netnsPath, port))
	r.mu.Unlock()
	if err != nil {
		stream.Close()
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		stream.Close()
		return fmt.Errorf("port forward to port %d: %w", port, err)
	}
	return runtime.Splice(ctx, stream, conn)
}

// AttachStdin appends what stdin carries to the container's Stdin until
// stdin ends; a StdinOnce container's stdin is closed after that.
func (r *Runtime) AttachStdin(ctx context.Context, id string, stdin io.Reader, _ <-chan runtime.TerminalSize) error {
	r.mu.Lock()
	err := r.begin("AttachStdin", "attach-stdin "+id)
	if err == nil {
		err = r.execTargetLocked(id)
	}
	var c *Container
	if err == nil {
		c = r.containers[id]
		if !c.Spec.Stdin || c.StdinClosed {
			err = fmt.Errorf("attach to the stdin of container %q: %w", id, runtime.ErrNoStdin)
		}
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, rerr := stdin.Read(buf)
		r.mu.Lock()
		c.Stdin = append(c.Stdin, buf[:n]...)
		r.mu.Unlock()
		if rerr != nil || ctx.Err() != nil {
			break
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.Spec.StdinOnce {
		c.StdinClosed = true
	}
	return nil
}
