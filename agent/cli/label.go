package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// `miniagent label node|pod NAME key=value ... key- [--overwrite]` works
// like kubectl label: read the object, change its labels, write it back
// (Client.UpdateNode; for pods an in-place update through apply, so the
// pod's worker takes the change). annotate (annotate.go) does the same for
// pods' annotations.

// splitUpdateArgs splits "node NAME spec..." into the resource arguments and
// the update specs: the specs start at the first argument isSpec accepts.
func splitUpdateArgs(args []string, isSpec func(string) bool) (res, specs []string) {
	for i, a := range args {
		if isSpec(a) {
			return args[:i], args[i:]
		}
	}
	return args, nil
}

// nodeNames resolves the resource arguments of taint to node names.
func nodeNames(res []string) ([]string, error) {
	kind, names, err := updateTargets(res)
	if err != nil {
		return nil, err
	}
	if kind != "nodes" {
		return nil, fmt.Errorf("miniagent can only taint nodes, not %s", kind)
	}
	return names, nil
}

// updateTargets resolves the resource arguments of label/annotate/taint.
func updateTargets(res []string) (string, []string, error) {
	if len(res) == 0 {
		return "", nil, errors.New("one or more resources must be specified as <resource> <name> or <resource>/<name>")
	}
	kind, names, err := splitResource(res)
	if err != nil {
		return "", nil, err
	}
	if kind != "nodes" && kind != "pods" {
		return "", nil, fmt.Errorf("miniagent can only label nodes and pods, not %s", kind)
	}
	if len(names) == 0 {
		return "", nil, errors.New("resource(s) were provided, but no name was specified")
	}
	return kind, names, nil
}

// parseLabelSpecs parses "key=value" and "key-" arguments like kubectl.
func parseLabelSpecs(specs []string) (map[string]string, []string, error) {
	set := map[string]string{}
	var remove []string
	for _, s := range specs {
		switch {
		case strings.Contains(s, "="):
			parts := strings.Split(s, "=")
			if len(parts) != 2 {
				return nil, nil, fmt.Errorf("invalid label spec: %v", s)
			}
			if errs := validation.IsValidLabelValue(parts[1]); len(errs) != 0 {
				return nil, nil, fmt.Errorf("invalid label value: %q: %s", s, strings.Join(errs, ";"))
			}
			set[parts[0]] = parts[1]
		case strings.HasSuffix(s, "-"):
			remove = append(remove, strings.TrimSuffix(s, "-"))
		default:
			return nil, nil, fmt.Errorf("unknown label spec: %v", s)
		}
	}
	for _, k := range remove {
		if _, ok := set[k]; ok {
			return nil, nil, errors.New("can not both modify and remove a label in the same command")
		}
	}
	return set, remove, nil
}

// applyLabels returns the node's new labels and kubectl's verdict
// ("labeled", "unlabeled", "label(s) changed", "not labeled").
func applyLabels(old map[string]string, set map[string]string, remove []string, overwrite bool) (map[string]string, string, error) {
	if !overwrite {
		var errs []error
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if cur, ok := old[k]; ok && cur != set[k] {
				errs = append(errs, fmt.Errorf("'%s' already has a value (%s), and --overwrite is false", k, cur))
			}
		}
		if err := utilerrors.NewAggregate(errs); err != nil {
			return nil, "", err
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
	added, removed := false, false
	for k, v := range old {
		if nv, ok := out[k]; !ok {
			removed = true
		} else if nv != v {
			added = true
		}
	}
	for k := range out {
		if _, ok := old[k]; !ok {
			added = true
		}
	}
	switch {
	case added && removed:
		return out, "label(s) changed", nil
	case added:
		return out, "labeled", nil
	case removed:
		return out, "unlabeled", nil
	}
	return out, "not labeled", nil
}

func (a *app) label(ctx context.Context, args []string) int {
	fs := a.flagSet("label")
	overwrite := fs.Bool("overwrite", false, "overwrite existing labels")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	res, specs := splitUpdateArgs(rest, func(s string) bool { return strings.Contains(s, "=") || strings.HasSuffix(s, "-") })
	set, remove, err := parseLabelSpecs(specs)
	if err != nil {
		return a.fail(err)
	}
	kind, names, err := updateTargets(res)
	if err != nil {
		return a.fail(err)
	}
	if len(set) == 0 && len(remove) == 0 {
		return a.fail(errors.New("at least one label update is required"))
	}
	if kind == "pods" {
		return a.updatePods(ctx, names, func(p *v1.Pod) (string, bool, error) {
			for _, k := range remove {
				if _, ok := p.Labels[k]; !ok {
					fmt.Fprintf(a.stdout, "label %q not found.\n", k)
				}
			}
			labels, verdict, err := applyLabels(p.Labels, set, remove, *overwrite)
			p.Labels = labels
			return verdict, verdict != "not labeled", err
		})
	}
	c := a.client()
	for _, name := range names {
		node, err := c.GetNode(ctx, name)
		if err != nil {
			return a.fail(err)
		}
		for _, k := range remove {
			if _, ok := node.Labels[k]; !ok {
				fmt.Fprintf(a.stdout, "label %q not found.\n", k)
			}
		}
		labels, verdict, err := applyLabels(node.Labels, set, remove, *overwrite)
		if err != nil {
			return a.fail(err)
		}
		if verdict != "not labeled" {
			if err := a.putNode(ctx, node, func(n *v1.Node) { n.Labels = labels }); err != nil {
				return a.fail(err)
			}
		}
		fmt.Fprintf(a.stdout, "node/%s %s\n", node.Name, verdict)
	}
	return 0
}

// updatePods reads each pod, lets change edit its metadata and sends it
// back as an in-place update; it prints "pod/NAME <verdict>".
func (a *app) updatePods(ctx context.Context, names []string, change func(*v1.Pod) (verdict string, changed bool, err error)) int {
	c := a.client()
	for _, name := range names {
		pod, err := c.GetPod(ctx, a.namespace, name)
		if err != nil {
			return a.fail(err)
		}
		verdict, changed, err := change(pod)
		if err != nil {
			return a.fail(err)
		}
		if changed {
			pod.Status = v1.PodStatus{}
			pod.ResourceVersion, pod.ManagedFields = "", nil
			if _, _, err := c.Apply(ctx, pod); err != nil {
				return a.fail(err)
			}
		}
		fmt.Fprintf(a.stdout, "pod/%s %s\n", pod.Name, verdict)
	}
	return 0
}

// putNode sends the node back with change applied.
func (a *app) putNode(ctx context.Context, node *v1.Node, change func(*v1.Node)) error {
	n := node.DeepCopy()
	change(n)
	_, err := a.client().UpdateNode(ctx, n)
	return err
}
