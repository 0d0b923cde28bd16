package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/jsonpath"
)

// waitFor is a parsed --for: exactly one of delete, a condition, or a
// jsonpath expression (with a wanted value, or just presence).
type waitFor struct {
	delete    bool
	condition string // condition type, e.g. Ready
	condValue string // wanted status, "true" unless given
	jp        *jsonpath.JSONPath
	jpExpr    string
	jpValue   string
	jpAny     bool // no value given: any non-empty result will do
}

// parseWaitFor reads kubectl's --for forms: delete, condition=TYPE[=VALUE],
// jsonpath=EXPR[=VALUE] (EXPR with or without braces and quotes).
func parseWaitFor(s string) (waitFor, error) {
	var w waitFor
	kind, rest, _ := strings.Cut(s, "=")
	switch strings.ToLower(kind) {
	case "delete":
		if rest != "" {
			return w, fmt.Errorf("unrecognized condition: %q", s)
		}
		w.delete = true
		return w, nil
	case "condition":
		name, value, ok := strings.Cut(rest, "=")
		if name == "" {
			return w, fmt.Errorf("unrecognized condition: %q", s)
		}
		w.condition, w.condValue = name, "true"
		if ok {
			w.condValue = value
		}
		return w, nil
	case "jsonpath":
		expr, value, err := splitJSONPathFor(rest)
		if err != nil {
			return w, err
		}
		jp := jsonpath.New("wait").AllowMissingKeys(true)
		if err := jp.Parse(expr); err != nil {
			return w, fmt.Errorf("unrecognized jsonpath expression %q: %v", expr, err)
		}
		w.jp, w.jpExpr, w.jpValue, w.jpAny = jp, expr, value, value == ""
		return w, nil
	}
	if s == "" {
		return w, errors.New("--for must be set to one of: delete, condition=condition-name, jsonpath='{JSONPath expression}'=[JSONPath value]")
	}
	return w, fmt.Errorf("unrecognized condition: %q", s)
}

// splitJSONPathFor splits "{.status.phase}=Running" (or '{...}'=Running, or
// .status.phase=Running) into a braced expression and the value.
func splitJSONPathFor(s string) (expr, value string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", errors.New("jsonpath wait format must be --for=jsonpath='{.status.readyReplicas}'=3 or --for=jsonpath='{.status.readyReplicas}'")
	}
	if q := s[0]; q == '\'' || q == '"' {
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return "", "", fmt.Errorf("unterminated quote in jsonpath expression %q", s)
		}
		expr, rest := s[1:end+1], s[end+2:]
		if rest != "" && rest[0] != '=' {
			return "", "", fmt.Errorf("jsonpath wait has to have a value after equal sign, like --for=jsonpath='{.status.readyReplicas}'=3")
		}
		value = strings.TrimPrefix(rest, "=")
		return braced(expr), value, nil
	}
	if strings.HasPrefix(s, "{") {
		end := strings.LastIndexByte(s, '}')
		expr, rest := s[:end+1], s[end+1:]
		if rest != "" && rest[0] != '=' {
			return "", "", fmt.Errorf("jsonpath wait has to have a value after equal sign, like --for=jsonpath='{.status.readyReplicas}'=3")
		}
		return expr, strings.TrimPrefix(rest, "="), nil
	}
	expr, value, ok := strings.Cut(s, "=")
	if ok && value == "" {
		return "", "", fmt.Errorf("jsonpath wait has to have a value after equal sign, like --for=jsonpath='{.status.readyReplicas}'=3")
	}
	return braced(expr), value, nil
}

func braced(expr string) string {
	if strings.HasPrefix(expr, "{") {
		return expr
	}
	return "{" + expr + "}"
}

// met tells whether pod satisfies the condition or jsonpath wait.
func (w waitFor) met(pod *v1.Pod) (bool, error) {
	if w.jp != nil {
		data, err := json.Marshal(pod)
		if err != nil {
			return false, err
		}
		var generic any
		if err := json.Unmarshal(data, &generic); err != nil {
			return false, err
		}
		results, err := findJSONPath(w.jp, generic)
		if err != nil {
			return false, err
		}
		if len(results) > 1 {
			return false, errors.New("given jsonpath expression matches more than one value")
		}
		if len(results) == 0 {
			return false, nil
		}
		var buf bytes.Buffer
		if err := w.jp.PrintResults(&buf, results); err != nil {
			return false, err
		}
		if w.jpAny {
			return buf.Len() > 0, nil
		}
		return buf.String() == w.jpValue, nil
	}
	for _, c := range pod.Status.Conditions {
		if strings.EqualFold(string(c.Type), w.condition) {
			return strings.EqualFold(string(c.Status), w.condValue), nil
		}
	}
	return false, nil
}

// findJSONPath runs jp's FindResults, turning its panics into errors.
func findJSONPath(jp *jsonpath.JSONPath, data any) (out []reflect.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	res, err := jp.FindResults(data)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		out = append(out, r...)
	}
	return out, nil
}

// errWaitTimeout is kubectl's message when --timeout passes.
func errWaitTimeout(name string) error {
	return fmt.Errorf("timed out waiting for the condition on pods/%s", name)
}

// podRef names one pod to wait for.
type podRef struct{ namespace, name string }

// wait implements `wait --for=... pod/NAME...|-l SEL|--all [-A]`: it follows
// the API's watch of each pod until the condition holds. As in kubectl,
// --timeout bounds the whole command, not each pod: once it has passed, every
// pod not yet done times out.
func (a *app) wait(ctx context.Context, args []string) int {
	fs := a.flagSet("wait")
	forFlag := fs.String("for", "", "the condition to wait on: delete, condition=NAME[=VALUE], jsonpath='{EXPR}'[=VALUE]")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait; 0 checks once, negative waits a week")
	selector := fs.StringP("selector", "l", "", "label selector")
	all := fs.Bool("all", false, "all pods in the namespace")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	cond, err := parseWaitFor(*forFlag)
	if err != nil {
		return a.fail(err)
	}
	if *timeout < 0 {
		*timeout = 7 * 24 * time.Hour
	}
	// One deadline for the whole command, started before the pods are
	// looked up, as kubectl's.
	tctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var refs []podRef
	var names []string
	if len(rest) > 0 {
		res, n, err := splitResource(rest)
		if err != nil {
			return a.fail(err)
		}
		if res != "pods" {
			return a.fail(fmt.Errorf("wait supports pods only, not %s", res))
		}
		names = n
	}
	byName := len(names) > 0
	if byName {
		if *selector != "" || *all {
			return a.fail(errors.New("name cannot be provided when a selector is specified"))
		}
		if a.allNS {
			return a.fail(errors.New("a resource cannot be retrieved by name across all namespaces"))
		}
		for _, name := range names {
			refs = append(refs, podRef{a.namespace, name})
		}
	} else {
		// `wait pods -l SEL`, `wait pods --all`, or the same without the
		// resource type.
		if *selector == "" && !*all {
			return a.fail(errors.New("resource(s) were provided, but no name was specified"))
		}
		if refs, err = a.selectPods(ctx, *selector); err != nil {
			return a.fail(err)
		}
		if len(refs) == 0 && !cond.delete {
			return a.fail(errors.New("no matching resources found"))
		}
	}
	rc := 0
	for _, r := range refs {
		if err := a.waitOne(ctx, tctx, r, cond, *timeout == 0, !byName); err != nil {
			fmt.Fprint(a.stderr, FormatError(err))
			if isUnreachable(err) || ctx.Err() != nil {
				return 1
			}
			rc = 1
			continue
		}
	}
	return rc
}

// selectPods lists the pods of the namespace (of all with -A) matching
// selector ("" = all).
func (a *app) selectPods(ctx context.Context, selector string) ([]podRef, error) {
	sel := labels.Everything()
	if selector != "" {
		var err error
		if sel, err = labels.Parse(selector); err != nil {
			return nil, err
		}
	}
	pods, err := a.client().ListPods(ctx, a.listNamespace())
	if err != nil {
		return nil, err
	}
	var out []podRef
	for _, p := range pods {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, podRef{p.Namespace, p.Name})
		}
	}
	return out, nil
}

// waitOne waits for one pod until tctx (ctx with the --timeout deadline) is
// done; once is --timeout=0: look once, do not wait. It prints "pod/NAME
// condition met" on success. listed says the pod was found by a selector: if
// it is gone already, its deletion is reported as met.
func (a *app) waitOne(ctx, tctx context.Context, ref podRef, cond waitFor, once, listed bool) error {
	c := a.client()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Watch first, then read the pod: no change falls between the two.
	ch, err := c.WatchPod(wctx, ref.namespace, ref.name)
	if err != nil {
		return err
	}
	pod, err := c.GetPod(ctx, ref.namespace, ref.name)
	switch {
	case apierrors.IsNotFound(err) && cond.delete:
		if listed {
			fmt.Fprintf(a.stdout, "pod/%s condition met\n", ref.name)
		}
		return nil // never there: nothing to print, as kubectl
	case err != nil:
		return err
	}
	done, err := a.waitCheck(pod, cond, "")
	if done || err != nil {
		return err
	}
	if once {
		return errWaitTimeout(ref.name)
	}
	for {
		select {
		case <-tctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errWaitTimeout(ref.name)
		case ev, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("the watch of pod %q ended before the condition was met", ref.name)
			}
			if cond.delete {
				if ev.Type == "DELETED" && ev.Pod.UID == pod.UID || ev.Pod.UID != pod.UID {
					fmt.Fprintf(a.stdout, "pod/%s condition met\n", ref.name)
					return nil
				}
				continue
			}
			if done, err := a.waitCheck(&ev.Pod, cond, ev.Type); done || err != nil {
				return err
			}
		}
	}
}

// waitCheck evaluates one observed state; done means the wait is over.
func (a *app) waitCheck(pod *v1.Pod, cond waitFor, evType string) (bool, error) {
	if cond.delete || evType == "DELETED" {
		return false, nil
	}
	ok, err := cond.met(pod)
	if err != nil {
		return true, err
	}
	if ok {
		fmt.Fprintf(a.stdout, "pod/%s condition met\n", pod.Name)
	}
	return ok, nil
}
