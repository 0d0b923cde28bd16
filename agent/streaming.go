package agent

import (
	"context"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/runtime"
	"github.com/miniagent/miniagent/runtime/crilog"
)

var _ api.Streamer = (*Agent)(nil)

// streamSnapshot returns the newest snapshot of a visible pod.
func (a *Agent) streamSnapshot(namespace, pod string) (*podWorker, *podSnapshot, error) {
	a.mu.Lock()
	w := a.visibleLocked(namespace, pod)
	a.mu.Unlock()
	if w == nil {
		return nil, nil, apierrors.NewNotFound(podResource, pod)
	}
	return w, w.snap.Load(), nil
}

// streamContainer resolves a container of the snapshot's pod to its
// running instance, with the API server's and kubelet's messages.
func streamContainer(s *podSnapshot, container string) (name, id string, err error) {
	pod := s.pod
	if container == "" {
		if len(pod.Spec.Containers) != 1 {
			var names []string
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			return "", "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " ")))
		}
		container = pod.Spec.Containers[0].Name
	}
	if c, _ := findContainer(pod, container); c == nil {
		return "", "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
	}
	id = s.running[container]
	if id == "" {
		return "", "", apierrors.NewBadRequest(fmt.Sprintf("container not found (%q)", container))
	}
	return container, id, nil
}

// StreamTarget implements api.Streamer.
func (a *Agent) StreamTarget(ctx context.Context, namespace, pod, container string, forContainer bool) (string, string, error) {
	_, s, err := a.streamSnapshot(namespace, pod)
	if err != nil {
		return "", "", err
	}
	if !forContainer {
		if s.released || s.terminal {
			return "", "", apierrors.NewBadRequest(fmt.Sprintf("pod %s is not running (phase %s)", pod, s.pod.Status.Phase))
		}
		return string(s.pod.UID), "", nil
	}
	name, _, err := streamContainer(s, container)
	return string(s.pod.UID), name, err
}

// ExecInContainer implements api.Streamer: an interactive exec in the
// container's running instance. A runtime that lost the container reads
// as kubelet's "container not found".
func (a *Agent) ExecInContainer(ctx context.Context, namespace, pod, container string, cmd []string, st api.Streams) (int, error) {
	_, s, err := a.streamSnapshot(namespace, pod)
	if err != nil {
		return -1, err
	}
	name, id, err := streamContainer(s, container)
	if err != nil {
		return -1, err
	}
	rst := runtime.ExecStreams{Stdin: st.Stdin, Stdout: st.Stdout, Stderr: st.Stderr, TTY: st.TTY, Resize: runtimeSizes(ctx, st.Resize)}
	code, err := a.rt.ExecStream(ctx, id, cmd, rst)
	if err != nil {
		return -1, fmt.Errorf("exec in container %q of pod %q: %w", name, pod, err)
	}
	return code, nil
}

// runtimeSizes passes the API's terminal sizes on as the runtime's, until
// sizes closes or ctx ends; nil stays nil.
func runtimeSizes(ctx context.Context, sizes <-chan api.TerminalSize) <-chan runtime.TerminalSize {
	if sizes == nil {
		return nil
	}
	ch := make(chan runtime.TerminalSize)
	go func() {
		defer close(ch)
		for sz := range sizes {
			select {
			case ch <- runtime.TerminalSize{Width: sz.Width, Height: sz.Height}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// AttachContainer implements api.Streamer, as kubelet attaches: it
// streams the container's output from now on, read from its log (stdout
// and stderr as the log merged them), until the instance exits or ctx
// ends. A container with `stdin: true` also gets the session's stdin
// (runtime.AttachStdin: with stdinOnce its stdin closes when the first
// session's stdin ends); without it the session's stdin is not read, as
// in kubelet. With `tty: true` the session's terminal sizes resize the
// container's terminal; its output (one stream) is in the log as stdout.
func (a *Agent) AttachContainer(ctx context.Context, namespace, pod, container string, st api.Streams) error {
	w, s, err := a.streamSnapshot(namespace, pod)
	if err != nil {
		return err
	}
	name, id, err := streamContainer(s, container)
	if err != nil {
		return err
	}
	ref := s.logs[name].current
	if ref.id != id || ref.path == "" {
		return fmt.Errorf("attach to container %q of pod %q: no log for the running instance", name, pod)
	}
	out := st.Stdout
	if out == nil {
		out = st.Stderr
	}
	if out == nil {
		out = io.Discard
	}
	ropts := crilog.ReadOptions{
		TailLines: 0,
		Follow:    true,
		StopFollow: func() bool {
			select {
			case <-w.done:
				return true
			default:
			}
			cur := w.snap.Load().logs[name].current
			return cur.id != id || cur.exited
		},
	}
	if c, _ := findContainer(s.pod, name); c != nil && c.Stdin && st.Stdin != nil {
		// The container's answer to its input can reach the log before
		// ReadLog has opened it: the session shows every record since it
		// began rather than from the file's end.
		ropts.TailLines, ropts.Since = -1, a.clock.Now()
		// A prompt (no newline) shows at once.
		ropts.Unjoined = true
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			// It ends with the session's stdin, which the streaming
			// server closes when the session ends.
			if err := a.rt.AttachStdin(ctx, id, st.Stdin, runtimeSizes(ctx, st.Resize)); err != nil && ctx.Err() == nil && st.Stderr != nil && st.Stdout != nil {
				fmt.Fprintf(st.Stderr, "attach to container %q of pod %q: %v\n", name, pod, err)
			}
		}()
	}
	return crilog.ReadLog(ctx, ref.path, ropts, out)
}

// PortForward implements api.Streamer: stream is connected to port on the
// pod's loopback, inside its network namespace (the host's for
// hostNetwork pods).
func (a *Agent) PortForward(ctx context.Context, namespace, pod string, port int32, stream io.ReadWriteCloser) error {
	_, s, err := a.streamSnapshot(namespace, pod)
	if err != nil {
		stream.Close()
		return err
	}
	if s.released || s.terminal || (s.netns == "" && !s.pod.Spec.HostNetwork) {
		stream.Close()
		return fmt.Errorf("port forward to pod %q: the pod has no running sandbox", pod)
	}
	return a.rt.PortForward(ctx, s.netns, port, stream)
}
