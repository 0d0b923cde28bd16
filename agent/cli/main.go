// Package cli implements miniagent's client verbs (apply, delete, get,
// describe, logs, wait, top, label, annotate, taint, exec, attach,
// port-forward, cp, image pull/ls/rm) on top of the API client (the streaming verbs through
// client-go's SPDY clients over the same socket), printing like kubectl:
// the same tables, STATUS column, describe layout, output formats
// (custom-columns, --sort-by, -L, --show-labels included) and error
// messages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/spf13/pflag"
	"k8s.io/utils/clock"
)

// DefaultSocket is where the daemon listens unless --socket or
// MINIAGENT_SOCKET say otherwise.
const DefaultSocket = "/run/miniagent/miniagent.sock"

const usage = `miniagent runs Kubernetes pods on this host.

Usage:
  miniagent apply -f FILE|DIR|- [-f ...] [--force]
  miniagent delete pod NAME...|-l SELECTOR|--all [--grace-period N] [--wait=true]
  miniagent delete -f FILE|DIR|-
  miniagent get pods [NAME] [-o wide|json|yaml|name|jsonpath=TEMPLATE|custom-columns=SPEC] [-w] [-l SELECTOR]
                     [--sort-by JSONPATH] [--show-labels] [-L KEY,...]
  miniagent get nodes [NAME] [-o wide|json|yaml|name]
  miniagent get events [-w] [--field-selector involvedObject.name=NAME] [-o wide|json|yaml|name]
  miniagent describe pod|node NAME
  miniagent logs NAME|-l SELECTOR [-c CONTAINER|--all-containers] [-p] [-f] [--timestamps] [--tail N]
                [--since DURATION|--since-time RFC3339] [--limit-bytes N] [--prefix]
  miniagent exec POD [-c CONTAINER] [-i] [-t] [-q] -- COMMAND [ARG...]
  miniagent attach POD [-c CONTAINER] [-i] [-q]
  miniagent port-forward POD [LOCAL:]REMOTE... [--address 127.0.0.1]
  miniagent cp [-c CONTAINER] POD:PATH LOCAL | LOCAL POD:PATH
  miniagent label node|pod NAME KEY=VALUE... KEY-... [--overwrite]
  miniagent annotate pod NAME KEY=VALUE... KEY-... [--overwrite]
  miniagent wait --for=delete|condition=NAME[=VALUE]|jsonpath='{EXPR}'=VALUE pod/NAME...|-l SELECTOR|--all [-A] [--timeout 30s]
  miniagent top pod [NAME] [--containers] [-l SELECTOR] [--sort-by cpu|memory]
  miniagent top node [NAME]
  miniagent taint node NAME KEY[=VALUE]:EFFECT... KEY[:EFFECT]-... [--overwrite]
  miniagent image pull REF                 # progress bars on a terminal, plain lines otherwise
  miniagent image ls [-q] [--no-trunc]     # IMAGE TAG IMAGE ID SIZE, like crictl images
  miniagent image rm REF...                # refused while a pod or container uses the image
  miniagent image import FILE.tar [--containerd-namespace NS]   # straight into containerd, no daemon

Global flags:
  --socket PATH          daemon socket (env MINIAGENT_SOCKET, default /run/miniagent/miniagent.sock)
  -n, --namespace NS     namespace (default "default")
  -A, --all-namespaces   all namespaces (get, top, get events; wait and delete with -l or --all)
`

// app is one CLI invocation.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	clock          clock.PassiveClock

	socket    string
	namespace string
	allNS     bool
	nsChanged bool
	labels    labelColumns // get: -L and --show-labels
}

// Main runs one client verb. args are the command line without the program
// name ("get", "pods", "-o", "wide"). It returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && (filepath.Base(args[0]) == "miniagent" || strings.Contains(args[0], "/")) {
		args = args[1:] // tolerate being handed os.Args
	}
	return run(ctx, clock.RealClock{}, args, stdin, stdout, stderr)
}

func run(ctx context.Context, clk clock.PassiveClock, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, clock: clk, socket: DefaultSocket, namespace: "default"}
	if s := os.Getenv("MINIAGENT_SOCKET"); s != "" {
		a.socket = s
	}
	fs := a.flagSet("miniagent")
	fs.SetInterspersed(false)
	if err := fs.Parse(args); err != nil {
		return a.flagError(err)
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	verbs := map[string]func(context.Context, []string) int{
		"apply": a.apply, "delete": a.delete, "get": a.get, "describe": a.describe, "logs": a.logs,
		"label": a.label, "taint": a.taint, "wait": a.wait,
		"top": a.top, "annotate": a.annotate,
		"exec": a.exec, "attach": a.attach, "port-forward": a.portForward, "cp": a.cp,
		"image": a.image,
	}
	verb, ok := verbs[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "error: unknown command %q for \"miniagent\"\n", rest[0])
		return 1
	}
	return verb(ctx, rest[1:])
}

// flagSet returns a flag set carrying the global flags.
func (a *app) flagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.socket, "socket", a.socket, "daemon socket")
	fs.StringVarP(&a.namespace, "namespace", "n", a.namespace, "namespace")
	fs.BoolVarP(&a.allNS, "all-namespaces", "A", a.allNS, "all namespaces")
	return fs
}

// parse parses a verb's flags and records whether -n was given.
func (a *app) parse(fs *pflag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.Changed("namespace") {
		a.nsChanged = true
	}
	return fs.Args(), nil
}

func (a *app) flagError(err error) int {
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(a.stdout, usage)
		return 0
	}
	fmt.Fprintf(a.stderr, "error: %v\nSee 'miniagent help' for usage.\n", err)
	return 1
}

func (a *app) client() *api.Client { return api.NewClient(a.socket) }

// fail prints err like kubectl and returns exit code 1.
func (a *app) fail(err error) int {
	fmt.Fprint(a.stderr, FormatError(err))
	return 1
}

// listNamespace is the namespace to list in: "" with -A.
func (a *app) listNamespace() string {
	if a.allNS {
		return ""
	}
	return a.namespace
}

// splitResource accepts "pod NAME...", "pods", "pod/NAME" forms and returns
// the canonical resource ("pods" or "nodes") and the names.
func splitResource(args []string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, errors.New("you must specify the type of resource to get. Valid resource types are: pods, nodes, events")
	}
	var res string
	var names []string
	for i, arg := range args {
		r, name, slash := strings.Cut(arg, "/")
		if i == 0 && !slash {
			res = r
			continue
		}
		if slash {
			if res != "" && canonical(r) != canonical(res) {
				return "", nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'miniagent get resource/<resource_name>' instead of 'miniagent get resource resource/<resource_name>'")
			}
			res = r
			names = append(names, name)
			continue
		}
		names = append(names, arg)
	}
	c := canonical(res)
	if c == "" {
		return "", nil, fmt.Errorf("the server doesn't have a resource type %q", res)
	}
	return c, names, nil
}

func canonical(r string) string {
	switch strings.ToLower(r) {
	case "pod", "pods", "po":
		return "pods"
	case "node", "nodes", "no":
		return "nodes"
	case "event", "events", "ev":
		return "events"
	}
	return ""
}
