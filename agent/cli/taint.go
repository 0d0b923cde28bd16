package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// `miniagent taint node NAME key=value:Effect ... key:Effect- key- [--overwrite]`
// works like kubectl taint: read the node, change its taints, write it back
// with Client.UpdateNode. A NoExecute taint that is added or changed gets
// timeAdded = now (tolerationSeconds count from it).

// parseTaint parses "key=value:effect", "key:effect" or "key".
func parseTaint(spec string) (v1.Taint, error) {
	var t v1.Taint
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1:
		t.Key = parts[0]
	case 2:
		t.Effect = v1.TaintEffect(parts[1])
		switch t.Effect {
		case v1.TaintEffectNoSchedule, v1.TaintEffectPreferNoSchedule, v1.TaintEffectNoExecute:
		default:
			return t, fmt.Errorf("invalid taint effect: %v, unsupported taint effect", t.Effect)
		}
		kv := strings.Split(parts[0], "=")
		if len(kv) > 2 {
			return t, fmt.Errorf("invalid taint spec: %v", spec)
		}
		t.Key = kv[0]
		if len(kv) == 2 {
			t.Value = kv[1]
			if errs := validation.IsValidLabelValue(t.Value); len(errs) > 0 {
				return t, fmt.Errorf("invalid taint spec: %v, %s", spec, strings.Join(errs, "; "))
			}
		}
	default:
		return t, fmt.Errorf("invalid taint spec: %v", spec)
	}
	if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
		return t, fmt.Errorf("invalid taint spec: %v, %s", spec, strings.Join(errs, "; "))
	}
	return t, nil
}

// parseTaintSpecs splits the specs into taints to add and to remove (those
// ending in "-", matched by key and, if given, effect).
func parseTaintSpecs(specs []string) (add, remove []v1.Taint, err error) {
	seen := map[string]bool{}
	for _, s := range specs {
		if strings.HasSuffix(s, "-") {
			t, err := parseTaint(strings.TrimSuffix(s, "-"))
			if err != nil {
				return nil, nil, err
			}
			remove = append(remove, v1.Taint{Key: t.Key, Effect: t.Effect})
			continue
		}
		t, err := parseTaint(s)
		if err != nil {
			return nil, nil, err
		}
		if t.Effect == "" {
			return nil, nil, fmt.Errorf("invalid taint spec: %v", s)
		}
		if k := t.Key + ":" + string(t.Effect); seen[k] {
			return nil, nil, fmt.Errorf("duplicated taints with the same key and effect: %v", t)
		} else {
			seen[k] = true
		}
		add = append(add, t)
	}
	var both []string
	for _, r := range remove {
		for _, t := range add {
			if t.Key == r.Key && (r.Effect == "" || r.Effect == t.Effect) {
				both = append(both, t.ToString())
			}
		}
	}
	if len(both) > 0 {
		return nil, nil, fmt.Errorf("can not both modify and remove the following taint(s) in the same command: %s", strings.Join(both, ", "))
	}
	return add, remove, nil
}

// applyTaints computes the node's new taints and kubectl's verdict
// ("tainted", "untainted", "modified"). Without overwrite, adding a taint
// whose key and effect exist is an error; removing a taint that does not
// exist is an error. Nothing changes on error.
func applyTaints(node *v1.Node, add, remove []v1.Taint, overwrite bool, now time.Time) ([]v1.Taint, string, error) {
	old := node.Spec.Taints
	if !overwrite {
		var dup []string
		for _, t := range add {
			for _, o := range old {
				if o.MatchTaint(&t) {
					dup = append(dup, t.Key)
				}
			}
		}
		if len(dup) > 0 {
			//lint:ignore ST1005 kubectl's exact wording
			return nil, "", fmt.Errorf("Node %s already has %v taint(s) with same effect(s) and --overwrite is false", node.Name, strings.Join(dup, ","))
		}
	}
	newTaints := make([]v1.Taint, 0, len(add)+len(old))
	for _, t := range add {
		for _, o := range old {
			if o.MatchTaint(&t) && o.Value == t.Value {
				t.TimeAdded = o.TimeAdded // unchanged: keep its time
			}
		}
		if t.Effect == v1.TaintEffectNoExecute && t.TimeAdded == nil {
			ts := metav1.NewTime(now.Truncate(time.Second))
			t.TimeAdded = &ts
		}
		newTaints = append(newTaints, t)
	}
	for _, o := range old {
		replaced := false
		for _, t := range add {
			replaced = replaced || o.MatchTaint(&t)
		}
		if !replaced {
			newTaints = append(newTaints, o)
		}
	}
	added := len(newTaints) != len(old)
	var errs []error
	deleted := false
	for _, r := range remove {
		kept := newTaints[:0:0]
		found := false
		for _, t := range newTaints {
			if t.Key == r.Key && (r.Effect == "" || t.Effect == r.Effect) {
				found = true
				continue
			}
			kept = append(kept, t)
		}
		if !found {
			errs = append(errs, fmt.Errorf("taint %q not found", r.ToString()))
		}
		newTaints, deleted = kept, found
	}
	if err := utilerrors.NewAggregate(errs); err != nil {
		return nil, "", err
	}
	switch {
	case (added && deleted) || overwrite:
		return newTaints, "modified", nil
	case added:
		return newTaints, "tainted", nil
	}
	return newTaints, "untainted", nil
}

func (a *app) taint(ctx context.Context, args []string) int {
	fs := a.flagSet("taint")
	overwrite := fs.Bool("overwrite", false, "overwrite taints with the same key and effect")
	rest, err := a.parse(fs, args)
	if err != nil {
		return a.flagError(err)
	}
	res, specs := splitUpdateArgs(rest, func(s string) bool {
		return strings.Contains(s, "=") || strings.Contains(s, ":") || strings.HasSuffix(s, "-")
	})
	add, remove, err := parseTaintSpecs(specs)
	if err != nil {
		return a.fail(err)
	}
	names, err := nodeNames(res)
	if err != nil {
		return a.fail(err)
	}
	if len(add) == 0 && len(remove) == 0 {
		return a.fail(errors.New("at least one taint update is required"))
	}
	c := a.client()
	for _, name := range names {
		node, err := c.GetNode(ctx, name)
		if err != nil {
			return a.fail(err)
		}
		taints, verdict, err := applyTaints(node, add, remove, *overwrite, a.clock.Now())
		if err != nil {
			return a.fail(err)
		}
		if err := a.putNode(ctx, node, func(n *v1.Node) { n.Spec.Taints = taints }); err != nil {
			return a.fail(err)
		}
		fmt.Fprintf(a.stdout, "node/%s %s\n", node.Name, verdict)
	}
	return 0
}
