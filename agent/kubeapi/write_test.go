package kubeapi

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

func TestCreate(t *testing.T) {
	b, _, c := newTestServer(t)
	pods := c.CoreV1().Pods("default")
	out, err := pods.Create(ctx(t), testPod("web", nil), metav1.CreateOptions{FieldManager: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if out.UID == "" || out.ResourceVersion == "" || len(out.ManagedFields) != 1 || out.ManagedFields[0].Manager != "test" {
		t.Fatalf("created %+v", out.ObjectMeta)
	}
	if applied := b.Applied(); len(applied) != 1 || applied[0].ManagedFields != nil {
		t.Fatalf("the backend got %d pods (managed fields %v), want one without managed fields", len(applied), applied[0].ManagedFields)
	}
	if _, err := pods.Create(ctx(t), testPod("web", nil), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: %v, want AlreadyExists", err)
	}
	gen := testPod("", nil)
	gen.GenerateName = "job-"
	out, err = pods.Create(ctx(t), gen, metav1.CreateOptions{})
	if err != nil || len(out.Name) != len("job-")+5 {
		t.Fatalf("generateName: %v %q", err, out.Name)
	}
	if _, err := pods.Create(ctx(t), testPod("dry", nil), metav1.CreateOptions{DryRun: []string{"All"}}); !apierrors.IsBadRequest(err) {
		t.Fatalf("dry run: %v, want BadRequest (not pretended)", err)
	}
}

func TestPatchTypes(t *testing.T) {
	b, _, c := newTestServer(t)
	pods := c.CoreV1().Pods("default")
	if _, err := pods.Create(ctx(t), testPod("web", map[string]string{"a": "1"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pt    types.PatchType
		patch string
		want  map[string]string
	}{
		{types.StrategicMergePatchType, `{"metadata":{"labels":{"b":"2"}}}`, map[string]string{"a": "1", "b": "2"}},
		{types.MergePatchType, `{"metadata":{"labels":{"a":null}}}`, map[string]string{"b": "2"}},
		{types.JSONPatchType, `[{"op":"add","path":"/metadata/labels/c","value":"3"}]`, map[string]string{"b": "2", "c": "3"}},
	} {
		out, err := pods.Patch(ctx(t), "web", tc.pt, []byte(tc.patch), metav1.PatchOptions{FieldManager: "kubectl-label"})
		if err != nil {
			t.Fatalf("%s: %v", tc.pt, err)
		}
		stored, _ := b.GetPod(ctx(t), "default", "web")
		if !equalMaps(out.Labels, tc.want) || !equalMaps(stored.Labels, tc.want) {
			t.Errorf("%s: labels %v (stored %v), want %v", tc.pt, out.Labels, stored.Labels, tc.want)
		}
	}
	// A strategic merge patch merges containers by name.
	_, err := pods.Patch(ctx(t), "web", types.StrategicMergePatchType, []byte(`{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := b.GetPod(ctx(t), "default", "web")
	if len(stored.Spec.Containers) != 1 || stored.Spec.Containers[0].Image != "busybox:2" {
		t.Errorf("containers after the patch: %+v", stored.Spec.Containers)
	}
	// Unknown fields are refused with fieldValidation=Strict (kubectl's default).
	_, err = pods.Patch(ctx(t), "web", types.MergePatchType, []byte(`{"spec":{"bogus":1}}`), metav1.PatchOptions{FieldValidation: "Strict"})
	if !apierrors.IsBadRequest(err) || !containsAll(err.Error(), "bogus") {
		t.Errorf("unknown field: %v, want BadRequest naming it", err)
	}
	// A stale resourceVersion is a conflict.
	_, err = pods.Patch(ctx(t), "web", types.MergePatchType, []byte(`{"metadata":{"resourceVersion":"1","labels":{"d":"4"}}}`), metav1.PatchOptions{})
	if !apierrors.IsConflict(err) {
		t.Errorf("stale resourceVersion: %v, want Conflict", err)
	}
	_, err = pods.Patch(ctx(t), "missing", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("patch of a missing pod: %v, want NotFound", err)
	}
}

// TestServerSideApply: apply creates, a second manager conflicts on a
// field it does not own unless forced, and a field its manager stops
// applying is removed, as the apiserver's field manager does.
func TestServerSideApply(t *testing.T) {
	b, _, c := newTestServer(t)
	pods := c.CoreV1().Pods("default")
	apply := func(labels map[string]string) *corev1ac.PodApplyConfiguration {
		return corev1ac.Pod("web", "default").WithLabels(labels).
			WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("c").WithImage("busybox")))
	}
	out, err := pods.Apply(ctx(t), apply(map[string]string{"app": "web", "tier": "front"}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if out.UID == "" || out.Labels["tier"] != "front" || len(out.ManagedFields) != 1 || out.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Fatalf("first apply: %+v", out.ObjectMeta)
	}
	_, err = pods.Apply(ctx(t), apply(map[string]string{"app": "other"}), metav1.ApplyOptions{FieldManager: "bob"})
	if !apierrors.IsConflict(err) || !containsAll(err.Error(), `conflict with "alice"`, ".metadata.labels.app") {
		t.Fatalf("bob's apply: %v, want a conflict with alice on .metadata.labels.app", err)
	}
	if _, err = pods.Apply(ctx(t), apply(map[string]string{"app": "other"}), metav1.ApplyOptions{FieldManager: "bob", Force: true}); err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	// alice now drops tier: it is removed; app is bob's now and stays.
	out, err = pods.Apply(ctx(t), corev1ac.Pod("web", "default").
		WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("c").WithImage("busybox"))), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := b.GetPod(ctx(t), "default", "web")
	if want := map[string]string{"app": "other"}; !equalMaps(stored.Labels, want) || !equalMaps(out.Labels, want) {
		t.Fatalf("labels %v (returned %v), want %v", stored.Labels, out.Labels, want)
	}
	got, err := pods.Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil || len(got.ManagedFields) != 2 {
		t.Fatalf("get: %v, managed fields %+v, want alice's and bob's", err, got.ManagedFields)
	}
	if _, err := c.CoreV1().RESTClient().Patch(types.ApplyPatchType).Namespace("default").Resource("pods").Name("web").
		Body([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"}}`)).Do(ctx(t)).Get(); !apierrors.IsBadRequest(err) {
		t.Errorf("apply without fieldManager: %v, want BadRequest", err)
	}
}

func TestPatchNodeLabels(t *testing.T) {
	b, _, c := newTestServer(t)
	_, err := c.CoreV1().Nodes().Patch(ctx(t), "node1", types.MergePatchType, []byte(`{"metadata":{"labels":{"disk":"ssd"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b.NodeObj.Labels["disk"] != "ssd" {
		t.Fatalf("node labels %v", b.NodeObj.Labels)
	}
	if _, err := c.CoreV1().Nodes().Patch(ctx(t), "other", types.MergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("other node: %v, want NotFound", err)
	}
}

func TestNamespaces(t *testing.T) {
	b, _, c := newTestServer(t)
	p := testPod("x", nil)
	p.Namespace = "team"
	b.SetPod(p)
	if _, err := c.CoreV1().Namespaces().Get(ctx(t), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := c.CoreV1().Namespaces().Get(ctx(t), "team", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != v1.NamespaceActive {
		t.Fatalf("team: %v %+v", err, ns)
	}
	if _, err := c.CoreV1().Namespaces().Get(ctx(t), "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("nope: %v, want NotFound", err)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
