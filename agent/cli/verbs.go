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
	"github.com/miniagent/miniagent/agent/spec"
	v1 "k8s.io/api/core/v1"
)

func isUnreachable(err error) bool {
	var ue *api.UnreachableError
	return errors.As(err, &ue)
}

// apply decodes every file first and sends nothing if any of them is bad.
func (a *app) apply(ctx context.Context, args []string) int {
	fs := a.flagSet("apply")
	files := fs.StringArrayP("filename", "f", nil, "file, directory or - for stdin")
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
			got, err := spec.Decode(data, src)
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
		_, result, err := c.Apply(ctx, p)
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
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	res, names, err := splitResource(rest)
	if err != nil {
		return a.fail(err)
	}
	if res != "pods" {
		return a.fail(fmt.Errorf("only pods can be deleted"))
	}
	if len(names) == 0 {
		return a.fail(errors.New("resource(s) were provided, but no name was specified"))
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
	for _, n := range names {
		if _, err := c.DeletePod(ctx, a.namespace, n, gp, *wait); err != nil {
			fmt.Fprint(a.stderr, FormatError(err))
			if isUnreachable(err) {
				return 1
			}
			rc = 1
			continue
		}
		fmt.Fprintf(a.stdout, "pod %q deleted\n", n)
	}
	return rc
}
