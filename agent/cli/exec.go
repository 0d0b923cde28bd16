package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/remotecommand"
)

// execArgs is a parsed `exec` or `attach` command line.
type execArgs struct {
	pod       string
	container string
	stdin     bool
	tty       bool
	quiet     bool
	command   []string
	warning   string // printed on stderr before running
}

// parseExecArgs reads `exec POD [-c C] [-i] [-t] [-q] -- CMD...` (attach:
// no command). As in kubectl, a command without `--` still works with a
// deprecation warning, and `POD` may be written `pod/POD`.
func (a *app) parseExecArgs(verb string, args []string, wantCommand bool) (execArgs, error) {
	var x execArgs
	fs := a.flagSet(verb)
	fs.StringVarP(&x.container, "container", "c", "", "container name")
	fs.BoolVarP(&x.stdin, "stdin", "i", false, "pass stdin to the container")
	fs.BoolVarP(&x.tty, "tty", "t", false, "stdin is a TTY")
	fs.BoolVarP(&x.quiet, "quiet", "q", false, "only print output from the remote session")
	rest, err := a.parse(fs, args)
	if err != nil {
		return x, err
	}
	dash := fs.ArgsLenAtDash()
	if len(rest) == 0 || dash == 0 {
		return x, fmt.Errorf("pod is required: %s POD", verb)
	}
	pod, err := podArg(rest[0])
	if err != nil {
		return x, err
	}
	x.pod = pod
	if !wantCommand {
		if len(rest) > 1 {
			return x, fmt.Errorf("expected a single argument: POD, saw %d: %s", len(rest), strings.Join(rest, " "))
		}
		return x, nil
	}
	switch {
	case dash < 0 && len(rest) > 1:
		x.warning = "miniagent exec [POD] [COMMAND] is DEPRECATED and will be removed in a future version. Use miniagent exec [POD] -- [COMMAND] instead.\n"
		x.command = rest[1:]
	case dash > 1:
		return x, fmt.Errorf("exec [POD] -- [COMMAND]: only the pod may come before --, saw %s", strings.Join(rest[:dash], " "))
	case dash == 1:
		x.command = rest[1:]
	}
	if len(x.command) == 0 {
		return x, errors.New("you must specify at least one command for the container")
	}
	return x, nil
}

// podArg accepts NAME, pod/NAME and pods/NAME.
func podArg(s string) (string, error) {
	res, name, ok := strings.Cut(s, "/")
	if !ok {
		return s, nil
	}
	if canonical(res) != "pods" || name == "" {
		return "", fmt.Errorf("cannot exec into or attach to %q: only pods are supported", s)
	}
	return name, nil
}

// pickContainer chooses the container as kubectl does: -c, else the
// kubectl.kubernetes.io/default-container annotation, else the first one
// (saying so when there are several). The name must exist in the pod.
func pickContainer(pod *v1.Pod, name string, quiet bool) (string, string, error) {
	if name != "" {
		if !hasContainer(pod, name) {
			return "", "", fmt.Errorf("container %s is not valid for pod %s", name, pod.Name)
		}
		return name, "", nil
	}
	if d := pod.Annotations["kubectl.kubernetes.io/default-container"]; d != "" && hasContainer(pod, d) {
		return d, "", nil
	}
	if len(pod.Spec.Containers) == 0 {
		return "", "", fmt.Errorf("pod %s has no containers", pod.Name)
	}
	first := pod.Spec.Containers[0].Name
	note := ""
	if !quiet && len(pod.Spec.Containers)+len(pod.Spec.InitContainers) > 1 {
		var all []string
		for _, c := range pod.Spec.Containers {
			all = append(all, c.Name)
		}
		for _, c := range pod.Spec.InitContainers {
			all = append(all, c.Name+" (init)")
		}
		note = fmt.Sprintf("Defaulted container %q out of: %s\n", first, strings.Join(all, ", "))
	}
	return first, note, nil
}

func hasContainer(pod *v1.Pod, name string) bool {
	for _, cs := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}

// streamTarget fetches the pod, refuses a finished one with kubectl's
// message and picks the container.
func (a *app) streamTarget(ctx context.Context, verb string, x execArgs) (string, error) {
	name, _, err := a.streamPodTarget(ctx, verb, x)
	return name, err
}

// streamPodTarget is streamTarget, also returning the chosen container's spec.
func (a *app) streamPodTarget(ctx context.Context, verb string, x execArgs) (string, *v1.Container, error) {
	pod, err := a.client().GetPod(ctx, a.namespace, x.pod)
	if err != nil {
		return "", nil, err
	}
	if p := pod.Status.Phase; p == v1.PodSucceeded || p == v1.PodFailed {
		return "", nil, fmt.Errorf("cannot %s a container in a completed pod; current phase is %s", verb, p)
	}
	name, note, err := pickContainer(pod, x.container, x.quiet)
	if err != nil {
		return "", nil, err
	}
	fmt.Fprint(a.stderr, note)
	return name, containerSpec(pod, name), nil
}

func containerSpec(pod *v1.Pod, name string) *v1.Container {
	for _, cs := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	return nil
}

// exec runs a command in a container, like `kubectl exec`.
func (a *app) exec(ctx context.Context, args []string) int {
	x, err := a.parseExecArgs("exec", args, true)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return a.flagError(err)
		}
		return a.fail(err)
	}
	fmt.Fprint(a.stderr, x.warning)
	container, err := a.streamTarget(ctx, "exec into", x)
	if err != nil {
		return a.fail(err)
	}
	opts := remotecommand.StreamOptions{Stdout: a.stdout, Stderr: a.stderr}
	if x.stdin {
		opts.Stdin = readerOnly{a.stdin}
	}
	if x.tty {
		t, ok, err := openTerminal(a.stdin, a.stdout)
		switch {
		case err != nil:
			return a.fail(err)
		case !ok:
			fmt.Fprintln(a.stderr, "Unable to use a TTY - input is not a terminal or the right kind of file")
			x.tty = false
		default:
			defer t.Close()
			opts.Tty, opts.TerminalSizeQueue, opts.Stderr = true, t, nil
		}
	}
	q := url.Values{"container": {container}, "stdout": {"1"}}
	for _, c := range x.command {
		q.Add("command", c)
	}
	if x.stdin {
		q.Set("stdin", "1")
	}
	if x.tty {
		q.Set("tty", "1")
	} else {
		q.Set("stderr", "1")
	}
	code, msg := exitCode(streamExec(ctx, a.socket, streamURL(a.namespace, x.pod, "exec", q), opts))
	fmt.Fprint(a.stderr, msg)
	return code
}

// attach streams a running container's output, like `kubectl attach`;
// with -i and a container created with `stdin: true`, the CLI's stdin
// goes to the container's; with -it and `tty: true` as well, the local
// terminal is in raw mode and its size goes to the container's terminal.
// -i and -t for a container without stdin or tty earn kubectl's warnings.
func (a *app) attach(ctx context.Context, args []string) int {
	x, err := a.parseExecArgs("attach", args, false)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return a.flagError(err)
		}
		return a.fail(err)
	}
	container, spec, err := a.streamPodTarget(ctx, "attach", x)
	if err != nil {
		return a.fail(err)
	}
	if x.tty && (spec == nil || !spec.TTY) {
		fmt.Fprintf(a.stderr, "Unable to use a TTY - container %s did not allocate one\n", container)
		x.tty = false
	}
	q := url.Values{"container": {container}, "stdout": {"1"}, "stderr": {"1"}}
	opts := remotecommand.StreamOptions{Stdout: a.stdout, Stderr: a.stderr}
	if x.stdin {
		if spec != nil && spec.Stdin {
			q.Set("stdin", "1")
			opts.Stdin = readerOnly{a.stdin}
		} else {
			fmt.Fprintf(a.stderr, "Unable to use stdin - container %s was not created with stdin\n", container)
		}
	}
	if x.tty && x.stdin {
		t, ok, err := openTerminal(a.stdin, a.stdout)
		switch {
		case err != nil:
			return a.fail(err)
		case !ok:
			fmt.Fprintln(a.stderr, "Unable to use a TTY - input is not a terminal or the right kind of file")
		default:
			defer t.Close()
			opts.Tty, opts.TerminalSizeQueue, opts.Stderr = true, t, nil
			q.Set("tty", "1")
			q.Del("stderr")
			if !x.quiet {
				fmt.Fprintln(a.stderr, "If you don't see a command prompt, try pressing enter.")
			}
		}
	}
	code, msg := exitCode(streamExec(ctx, a.socket, streamURL(a.namespace, x.pod, "attach", q), opts))
	if ctx.Err() != nil {
		return 0 // Ctrl-C ends an attach, as in kubectl
	}
	fmt.Fprint(a.stderr, msg)
	return code
}
