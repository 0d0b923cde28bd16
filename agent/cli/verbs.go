package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/miniagent/miniagent/agent/api"
	"github.com/miniagent/miniagent/agent/manifest"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func isUnreachable(err error) bool {
	var ue *api.UnreachableError
	return errors.As(err, &ue)
}

// apply decodes every file first and sends nothing if any of them is bad.
func (a *app) apply(ctx context.Context, args []string) int {
	fs := a.flagSet("apply")
	files := fs.StringArrayP("filename", "f", nil, "file, directory or - for stdin")
	force := fs.Bool("force", false, "delete and re-create a pod whose change cannot be made in place")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	if len(rest) > 0 {
		return a.fail(fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " ")))
	}
	if len(*files) == 0 {
		return a.fail(errors.New("must specify one of -f and -k"))
	}
	var pods []*v1.Pod
	for _, f := range *files {
		srcs, err := expandSources(f)
		if err != nil {
			return a.fail(err)
		}
		for _, src := range srcs {
			data, err := a.readSource(src)
			if err != nil {
				return a.fail(err)
			}
			got, err := manifest.Decode(data, src)
			if err != nil {
				return a.fail(err)
			}
			pods = append(pods, got...)
		}
	}
	if len(pods) == 0 {
		return a.fail(errors.New("no objects passed to apply"))
	}
	for _, p := range pods {
		switch {
		case p.Namespace == "":
			p.Namespace = a.namespace
		case a.nsChanged && p.Namespace != a.namespace:
			//lint:ignore ST1005 kubectl's exact wording
			return a.fail(fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation.", p.Namespace, a.namespace, p.Namespace))
		}
	}
	c := a.client()
	rc := 0
	for _, p := range pods {
		apply := c.Apply
		if *force {
			apply = c.ApplyForce
		}
		_, result, err := apply(ctx, p)
		if err != nil {
			fmt.Fprint(a.stderr, FormatError(err))
			if isUnreachable(err) {
				return 1
			}
			rc = 1
			continue
		}
		fmt.Fprintf(a.stdout, "pod/%s %s\n", p.Name, result)
	}
	return rc
}

// expandSources turns one -f value into the files to read: "-", a file, or
// a directory's .yaml/.yml/.json files in name order.
func expandSources(f string) ([]string, error) {
	if f == "-" {
		return []string{"-"}, nil
	}
	st, err := os.Stat(f)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the path %q does not exist", f)
		}
		return nil, err
	}
	if !st.IsDir() {
		return []string{f}, nil
	}
	entries, err := os.ReadDir(f)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				out = append(out, filepath.Join(f, e.Name()))
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("error reading [%s]: recognized file extensions are [.json .yaml .yml]", f)
	}
	return out, nil
}

func (a *app) readSource(src string) ([]byte, error) {
	if src == "-" {
		return io.ReadAll(a.stdin)
	}
	return os.ReadFile(src)
}

func (a *app) delete(ctx context.Context, args []string) int {
	fs := a.flagSet("delete")
	grace := fs.Int64("grace-period", -1, "seconds given to the pod to stop; -1 = the pod's own")
	now := fs.Bool("now", false, "same as --grace-period=1")
	force := fs.Bool("force", false, "delete at once (with --grace-period=0)")
	wait := fs.Bool("wait", true, "wait until the pod is gone")
	files := fs.StringArrayP("filename", "f", nil, "file, directory or - for stdin with the pods to delete")
	selector := fs.StringP("selector", "l", "", "delete the pods matching this label selector")
	all := fs.Bool("all", false, "delete every pod in the namespace")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	targets, err := a.deleteTargets(ctx, rest, *files, *selector, *all)
	if err != nil {
		return a.fail(err)
	}
	if targets == nil {
		fmt.Fprintln(a.stdout, "No resources found")
		return 0
	}
	var gp *int64
	switch {
	case *now:
		one := int64(1)
		gp = &one
	case *grace >= 0:
		gp = grace
	case *force:
		zero := int64(0)
		gp = &zero
	}
	c := a.client()
	rc := 0
	for _, t := range targets {
		if _, err := c.DeletePod(ctx, t.namespace, t.name, gp, *wait); err != nil {
			if t.file != "" {
				err = fileError(err, t.file)
			}
			fmt.Fprint(a.stderr, FormatError(err))
			if isUnreachable(err) {
				return 1
			}
			rc = 1
			continue
		}
		fmt.Fprintf(a.stdout, "pod %q deleted\n", t.name)
	}
	return rc
}

// deleteTarget is one pod to delete; file is the manifest that named it.
type deleteTarget struct{ namespace, name, file string }

// deleteTargets resolves delete's arguments: names, -f files, -l or --all.
// A selector matching nothing gives nil (kubectl: "No resources found").
func (a *app) deleteTargets(ctx context.Context, rest, files []string, selector string, all bool) ([]deleteTarget, error) {
	if len(files) > 0 {
		if len(rest) > 0 || selector != "" || all {
			return nil, errors.New("resource names, -l and --all cannot be used with -f")
		}
		var out []deleteTarget
		for _, f := range files {
			srcs, err := expandSources(f)
			if err != nil {
				return nil, err
			}
			for _, src := range srcs {
				data, err := a.readSource(src)
				if err != nil {
					return nil, err
				}
				pods, err := manifest.Decode(data, src)
				if err != nil {
					return nil, err
				}
				for _, p := range pods {
					ns := p.Namespace
					if ns == "" {
						ns = a.namespace
					}
					out = append(out, deleteTarget{ns, p.Name, src})
				}
			}
		}
		if len(out) == 0 {
			return nil, errors.New("no objects passed to delete")
		}
		return out, nil
	}
	if len(rest) == 0 {
		return nil, errors.New("You must provide one or more resources by argument or filename.") //lint:ignore ST1005 kubectl's exact wording
	}
	res, names, err := splitResource(rest)
	if err != nil {
		return nil, err
	}
	if res != "pods" {
		return nil, fmt.Errorf("only pods can be deleted")
	}
	switch {
	case len(names) > 0 && (selector != "" || all):
		return nil, errors.New("name cannot be provided when a selector is specified")
	case selector != "" && all:
		return nil, errors.New("cannot set --all and --selector at the same time")
	case len(names) > 0:
		out := make([]deleteTarget, len(names))
		for i, n := range names {
			out[i] = deleteTarget{namespace: a.namespace, name: n}
		}
		return out, nil
	case selector == "" && !all:
		return nil, errors.New("resource(s) were provided, but no name was specified")
	}
	matched, err := a.selectPods(ctx, selector)
	if err != nil {
		return nil, err
	}
	var out []deleteTarget
	for _, r := range matched {
		out = append(out, deleteTarget{namespace: r.namespace, name: r.name})
	}
	return out, nil
}

// fileError adds the manifest to a server error as kubectl does:
// `error when deleting "pod.yaml": pods "x" not found`.
func fileError(err error, file string) error {
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		return err
	}
	st := se.ErrStatus
	st.Message = fmt.Sprintf("error when deleting %q: %s", file, st.Message)
	return &apierrors.StatusError{ErrStatus: st}
}
