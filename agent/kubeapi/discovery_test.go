package kubeapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/restmapper"
	"k8s.io/kube-openapi/pkg/spec3"
)

// TestDiscovery drives the discovery endpoints with client-go's discovery
// client, as kubectl does (it falls back from aggregated discovery).
func TestDiscovery(t *testing.T) {
	_, srv, _ := newTestServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(restConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.Major != "1" || v.Minor != "37" || !strings.HasPrefix(v.GitVersion, "v1.37.") {
		t.Errorf("version %+v, want Kubernetes 1.37 (the k8s.io/api in the build)", v)
	}
	groups, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].Name != "" || groups[0].PreferredVersion.Version != "v1" {
		t.Errorf("groups %+v, want only the core group v1", groups)
	}
	verbs := map[string][]string{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			verbs[r.Name] = r.Verbs
		}
	}
	for name, want := range map[string][]string{
		"pods": {"create", "delete", "get", "list", "patch", "watch"}, "pods/log": {"get"},
		"pods/exec": {"create", "get"}, "pods/portforward": {"create", "get"},
		"nodes": {"get", "list", "patch"}, "events": {"list", "watch"}, "namespaces": {"get", "list"},
	} {
		if !slices.Equal(verbs[name], want) {
			t.Errorf("%s verbs %v, want %v", name, verbs[name], want)
		}
	}
	// kubectl's RESTMapper resolves short names and kinds from it.
	gr, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewShortcutExpander(restmapper.NewDiscoveryRESTMapper(gr), dc, nil)
	for short, want := range map[string]string{"po": "pods", "ev": "events", "no": "nodes", "ns": "namespaces"} {
		got, err := mapper.ResourceFor(schema.GroupVersionResource{Resource: short})
		if err != nil || got.Resource != want {
			t.Errorf("short name %q: %v %v, want %s", short, got, err, want)
		}
	}
}

func TestAPIGroupListIsEmpty(t *testing.T) {
	_, srv, _ := newTestServer(t)
	var gl metav1.APIGroupList
	decode(t, do(t, srv, "GET", "/apis", ""), &gl)
	if gl.Kind != "APIGroupList" || gl.Groups == nil || len(gl.Groups) != 0 {
		t.Fatalf("/apis: %+v, want an empty APIGroupList", gl)
	}
}

// TestOpenAPIV3 reads the document with client-go's openapi3 root, as
// kubectl apply and explain do, and checks what they look up: the Pod
// schema by GVK and the fieldValidation parameter of its PATCH.
func TestOpenAPIV3(t *testing.T) {
	_, srv, _ := newTestServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(restConfig(srv))
	if err != nil {
		t.Fatal(err)
	}
	root := openapi3.NewRoot(dc.OpenAPIV3())
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gvs, []schema.GroupVersion{v1.SchemeGroupVersion}) {
		t.Fatalf("group versions %v, want [v1]", gvs)
	}
	doc, err := root.GVSpec(v1.SchemeGroupVersion)
	if err != nil {
		t.Fatal(err)
	}
	pod, ok := doc.Components.Schemas["io.k8s.api.core.v1.Pod"]
	if !ok {
		t.Fatal("no io.k8s.api.core.v1.Pod schema")
	}
	gvk, _ := json.Marshal(pod.Extensions["x-kubernetes-group-version-kind"])
	if string(gvk) != `[{"group":"","kind":"Pod","version":"v1"}]` {
		t.Errorf("Pod GVK extension %s", gvk)
	}
	containers := doc.Components.Schemas["io.k8s.api.core.v1.PodSpec"].Properties["containers"]
	if containers.Extensions["x-kubernetes-patch-merge-key"] != "name" {
		t.Errorf("PodSpec.containers patch merge key %v, want name", containers.Extensions["x-kubernetes-patch-merge-key"])
	}
	patch := doc.Paths.Paths["/api/v1/namespaces/{namespace}/pods/{name}"].Patch
	if patch == nil || !slices.ContainsFunc(patch.Parameters, func(p *spec3.Parameter) bool { return p.Name == "fieldValidation" && p.In == "query" }) {
		t.Errorf("pod PATCH has no fieldValidation query parameter: %+v", patch)
	}
	for _, ct := range []string{"application/apply-patch+yaml", "application/strategic-merge-patch+json"} {
		if _, ok := patch.RequestBody.Content[ct]; !ok {
			t.Errorf("pod PATCH does not accept %s", ct)
		}
	}
	// The hash in /openapi/v3 is the document's: clients cache by it.
	resp := do(t, srv, "GET", "/openapi/v3/api/v1?hash="+openAPIHash(), "")
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control %q with the current hash, want immutable", cc)
	}
}
