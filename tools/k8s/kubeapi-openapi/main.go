// Command kubeapi-openapi generates the OpenAPI v3 document that miniagent's
// Kubernetes API (agent/kubeapi) serves at /openapi/v3/api/v1. The schemas
// are Kubernetes' own generated definitions (k8s.io/kubernetes/pkg/generated/openapi),
// built and named by kube-openapi's builder3 and the apiserver's definition
// namer exactly as kube-apiserver does it (x-kubernetes-group-version-kind
// included), restricted to the closure of the served kinds; the paths are
// the operations agent/kubeapi serves, with the query parameters kubectl
// looks for (fieldValidation on PATCH). Run it through go generate in
// agent/kubeapi:
//
//	cd tools/k8s && GOWORK=off go run ./kubeapi-openapi ../../agent/kubeapi/openapi-v1.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"

	apiopenapi "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
	generated "k8s.io/kubernetes/pkg/generated/openapi"
)

const (
	core = "io.k8s.api.core.v1."
	meta = "io.k8s.apimachinery.pkg.apis.meta.v1."
)

// resource is one served resource of the core group.
type resource struct {
	plural, kind string
	namespaced   bool
	verbs        []string // of get, list, watch, create, patch, delete
}

var resources = []resource{
	{"pods", "Pod", true, []string{"get", "list", "watch", "create", "patch", "delete"}},
	{"nodes", "Node", false, []string{"get", "list", "patch"}},
	{"events", "Event", true, []string{"list", "watch"}},
	{"namespaces", "Namespace", false, []string{"get", "list"}},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: kubeapi-openapi OUT.json")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "kubeapi-openapi:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	namer := apiopenapi.NewDefinitionNamer(scheme.Scheme)
	// The document's version is that of the Kubernetes whose definitions
	// it holds; the served /version reports it.
	kube := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "k8s.io/kubernetes" {
				kube = m.Version
			}
		}
	}
	cfg := &common.OpenAPIV3Config{
		Info:              &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes (miniagent)", Version: kube}},
		GetDefinitions:    generated.GetOpenAPIDefinitions,
		GetDefinitionName: namer.GetDefinitionName,
	}
	roots := []string{meta + "Status", meta + "DeleteOptions", meta + "WatchEvent", meta + "Patch", meta + "APIResourceList"}
	for _, r := range resources {
		roots = append(roots, core+r.kind, core+r.kind+"List")
	}
	schemas, err := builder3.BuildOpenAPIDefinitionsForResources(cfg, roots...)
	if err != nil {
		return err
	}
	name := func(goName string) string { n, _ := namer.GetDefinitionName(goName); return n }
	paths := map[string]any{}
	for _, r := range resources {
		addPaths(paths, r, name)
	}
	doc := map[string]any{
		"openapi":    "3.0.0",
		"info":       cfg.Info,
		"paths":      paths,
		"components": map[string]any{"schemas": schemas},
	}
	data, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(data, '\n'), 0o644)
}

func ref(n string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + n} }

func param(name, in, typ, desc string) map[string]any {
	p := map[string]any{"name": name, "in": in, "description": desc, "schema": map[string]any{"type": typ, "uniqueItems": true}}
	if in == "path" {
		p["required"] = true
	}
	return p
}

var (
	dryRun          = param("dryRun", "query", "string", "When present, indicates that modifications should not be persisted.")
	fieldManager    = param("fieldManager", "query", "string", "fieldManager is a name associated with the actor or entity that is making these changes.")
	fieldValidation = param("fieldValidation", "query", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields: Ignore, Warn or Strict.")
	force           = param("force", "query", "boolean", "Force is going to \"force\" Apply requests.")
	pretty          = param("pretty", "query", "string", "If 'true', then the output is pretty printed.")
	labelSelector   = param("labelSelector", "query", "string", "A selector to restrict the list of returned objects by their labels.")
	fieldSelector   = param("fieldSelector", "query", "string", "A selector to restrict the list of returned objects by their fields.")
	resourceVersion = param("resourceVersion", "query", "string", "resourceVersion sets a constraint on what resource versions a request may be served from.")
	watchParam      = param("watch", "query", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.")
	gracePeriod     = param("gracePeriodSeconds", "query", "integer", "The duration in seconds before the object should be deleted.")
)

func op(r resource, action, id string, params []any, resp map[string]any, body []string) map[string]any {
	o := map[string]any{
		"operationId":                     id,
		"tags":                            []string{"core_v1"},
		"x-kubernetes-action":             action,
		"x-kubernetes-group-version-kind": map[string]string{"group": "", "version": "v1", "kind": r.kind},
		"parameters":                      params,
		"responses":                       map[string]any{"200": map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": resp}}}},
	}
	if len(body) > 0 {
		content := map[string]any{}
		for _, ct := range body {
			content[ct] = map[string]any{"schema": ref(nameOfMeta("Patch"))}
			if action == "post" {
				content[ct] = map[string]any{"schema": ref("io.k8s.api.core.v1." + r.kind)}
			}
		}
		o["requestBody"] = map[string]any{"content": content, "required": true}
	}
	return o
}

func nameOfMeta(kind string) string { return "io.k8s.apimachinery.pkg.apis.meta.v1." + kind }

func has(r resource, verb string) bool {
	for _, v := range r.verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// addPaths adds the collection and item paths of r as kube-apiserver names them.
func addPaths(paths map[string]any, r resource, name func(string) string) {
	obj, list := ref(name(core+r.kind)), ref(name(core+r.kind+"List"))
	ns := ""
	var nsParam []any
	suffix := r.kind
	if r.namespaced {
		ns = "/namespaces/{namespace}"
		nsParam = []any{param("namespace", "path", "string", "object name and auth scope, such as for teams and projects")}
		suffix = "Namespaced" + r.kind
	}
	listParams := append(append([]any{}, nsParam...), pretty, labelSelector, fieldSelector, resourceVersion, watchParam)
	coll := map[string]any{}
	if has(r, "list") {
		coll["get"] = op(r, "list", "listCoreV1"+suffix, listParams, list, nil)
	}
	if has(r, "create") {
		coll["post"] = op(r, "post", "createCoreV1"+suffix, append(append([]any{}, nsParam...), pretty, dryRun, fieldManager, fieldValidation), obj, []string{"application/json", "application/yaml"})
	}
	paths["/api/v1"+ns+"/"+r.plural] = coll
	if r.namespaced && has(r, "list") {
		paths["/api/v1/"+r.plural] = map[string]any{"get": op(r, "list", "listCoreV1"+r.kind+"ForAllNamespaces", listParams[len(nsParam):], list, nil)}
	}
	itemParams := append([]any{param("name", "path", "string", "name of the "+r.kind)}, nsParam...)
	item := map[string]any{}
	if has(r, "get") {
		item["get"] = op(r, "get", "readCoreV1"+suffix, append(append([]any{}, itemParams...), pretty), obj, nil)
	}
	if has(r, "patch") {
		item["patch"] = op(r, "patch", "patchCoreV1"+suffix, append(append([]any{}, itemParams...), pretty, dryRun, fieldManager, fieldValidation, force), obj,
			[]string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"})
	}
	if has(r, "delete") {
		item["delete"] = op(r, "delete", "deleteCoreV1"+suffix, append(append([]any{}, itemParams...), pretty, dryRun, gracePeriod), obj, nil)
	}
	if len(item) > 0 {
		paths["/api/v1"+ns+"/"+r.plural+"/{name}"] = item
	}
}
