package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// nodeState is the part of the node that users change (label, taint) and
// that survives agent restarts.
type nodeState struct {
	Labels map[string]string `json:"labels"`
	Taints []v1.Taint        `json:"taints"`
}

func (a *Agent) nodeStatePath() string { return filepath.Join(a.opts.RootDir, "node.json") }

// loadNodeState replaces the flag-given labels and taints with the persisted
// ones, once a user has changed them.
func (a *Agent) loadNodeState() error {
	if a.node.cfg.Cluster {
		return nil
	}
	data, err := os.ReadFile(a.nodeStatePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st nodeState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: %w", a.nodeStatePath(), err)
	}
	a.mu.Lock()
	a.node.cfg.Labels, a.node.cfg.Taints = st.Labels, st.Taints
	a.mu.Unlock()
	return nil
}

// fixedLabels are set by the agent and cannot be changed by users.
func (a *Agent) fixedLabels() map[string]string {
	return map[string]string{
		"kubernetes.io/hostname": a.node.cfg.Name,
		"kubernetes.io/os":       goruntime.GOOS,
		"kubernetes.io/arch":     goruntime.GOARCH,
	}
}

// UpdateNode implements api.Backend.
func (a *Agent) UpdateNode(ctx context.Context, in *v1.Node) (*v1.Node, error) {
	if in.Name != "" && in.Name != a.node.cfg.Name {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, in.Name)
	}
	if a.node.cfg.Cluster {
		return nil, a.refuseClusterNodeUpdate()
	}
	var errs field.ErrorList
	errs = append(errs, metav1validation.ValidateLabels(in.Labels, field.NewPath("metadata", "labels"))...)
	for k, v := range a.fixedLabels() {
		if got, ok := in.Labels[k]; !ok || got != v {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "labels").Key(k), "is set by the node and cannot be changed"))
		}
	}
	seen := map[string]bool{}
	for i, t := range in.Spec.Taints {
		p := field.NewPath("spec", "taints").Index(i)
		switch t.Effect {
		case v1.TaintEffectNoSchedule, v1.TaintEffectPreferNoSchedule, v1.TaintEffectNoExecute:
		default:
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}))
		}
		if t.Key == "" {
			errs = append(errs, field.Required(p.Child("key"), ""))
		}
		k := t.Key + ":" + string(t.Effect)
		if seen[k] {
			errs = append(errs, field.Duplicate(p, k))
		}
		seen[k] = true
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Node"}, a.node.cfg.Name, errs)
	}
	st := nodeState{Labels: map[string]string{}, Taints: append([]v1.Taint(nil), in.Spec.Taints...)}
	for k, v := range in.Labels {
		if _, fixed := a.fixedLabels()[k]; !fixed && k != "beta.kubernetes.io/os" && k != "beta.kubernetes.io/arch" {
			st.Labels[k] = v
		}
	}
	for i := range st.Taints {
		if st.Taints[i].Effect == v1.TaintEffectNoExecute && st.Taints[i].TimeAdded == nil {
			now := metav1Now(a)
			st.Taints[i].TimeAdded = &now
		}
	}
	data, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(a.nodeStatePath(), data); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	a.mu.Lock()
	a.node.cfg.Labels, a.node.cfg.Taints = st.Labels, st.Taints
	a.mu.Unlock()
	a.nodeChanged()
	return a.buildNode(ctx), nil
}
