package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// parseAnnotationSpecs parses kubectl annotate's "key=value" (the value
// may hold "=" and be empty) and "key-" arguments.
func parseAnnotationSpecs(specs []string) (map[string]string, []string, error) {
	set := map[string]string{}
	var remove []string
	for _, s := range specs {
		switch {
		case strings.Contains(s, "="):
			k, v, _ := strings.Cut(s, "=")
			if k == "" {
				return nil, nil, fmt.Errorf("invalid annotation spec: %v", s)
			}
			set[k] = v
		case strings.HasSuffix(s, "-"):
			remove = append(remove, strings.TrimSuffix(s, "-"))
		default:
			return nil, nil, fmt.Errorf("invalid annotation spec: %v", s)
		}
	}
	for _, k := range remove {
		if _, ok := set[k]; ok {
			return nil, nil, errors.New("can not both modify and remove an annotation in the same command")
		}
	}
	return set, remove, nil
}

// applyAnnotations returns the new annotations; without overwrite a key
// that has another value already is kubectl's error.
func applyAnnotations(old, set map[string]string, remove []string, overwrite bool) (map[string]string, error) {
	if !overwrite {
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var errs []error
		for _, k := range keys {
			if cur, ok := old[k]; ok && cur != set[k] {
				errs = append(errs, fmt.Errorf("--overwrite is false but found the following declared annotation(s): '%s' already has a value (%s)", k, cur))
			}
		}
		if err := utilerrors.NewAggregate(errs); err != nil {
			return nil, err
		}
	}
	out := make(map[string]string, len(old)+len(set))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range set {
		out[k] = v
	}
	for _, k := range remove {
		delete(out, k)
	}
	return out, nil
}

// annotate implements `annotate pod NAME key=value... key-... [--overwrite]`.
func (a *app) annotate(ctx context.Context, args []string) int {
	fs := a.flagSet("annotate")
	overwrite := fs.Bool("overwrite", false, "overwrite existing annotations")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	res, specs := splitUpdateArgs(rest, func(s string) bool { return strings.Contains(s, "=") || strings.HasSuffix(s, "-") })
	set, remove, err := parseAnnotationSpecs(specs)
	if err != nil {
		return a.fail(err)
	}
	kind, names, err := updateTargets(res)
	if err != nil {
		return a.fail(err)
	}
	if kind != "pods" {
		return a.fail(fmt.Errorf("miniagent can only annotate pods, not %s", kind))
	}
	if len(set) == 0 && len(remove) == 0 {
		return a.fail(errors.New("at least one annotation update is required"))
	}
	return a.updatePods(ctx, names, func(p *v1.Pod) (string, bool, error) {
		ann, err := applyAnnotations(p.Annotations, set, remove, *overwrite)
		p.Annotations = ann
		return "annotated", err == nil, err
	})
}
