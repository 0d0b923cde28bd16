package kubeapi

import (
	"crypto/sha512"
	_ "embed" // the OpenAPI document
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/miniagent/miniagent/agent/api"
)

//go:generate sh -c "cd ../../tools/k8s && GOWORK=off go run ./kubeapi-openapi ../../agent/kubeapi/openapi-v1.json"

// openAPIV1 is the OpenAPI v3 document of the served part of /api/v1.
//
//go:embed openapi-v1.json
var openAPIV1 []byte

var openAPIHash = sync.OnceValue(func() string { return fmt.Sprintf("%X", sha512.Sum512(openAPIV1)) })

// apiResources is /api/v1: what kubectl's RESTMapper and discovery see.
var apiResources = []metav1.APIResource{
	{Name: "pods", SingularName: "pod", Namespaced: true, Kind: "Pod", ShortNames: []string{"po"}, Categories: []string{"all"},
		Verbs: metav1.Verbs{"create", "delete", "get", "list", "patch", "watch"}},
	{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}},
	{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}},
	{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: metav1.Verbs{"create", "get"}},
	{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: metav1.Verbs{"create", "get"}},
	{Name: "pods/portforward", Namespaced: true, Kind: "PodPortForwardOptions", Verbs: metav1.Verbs{"create", "get"}},
	{Name: "nodes", SingularName: "node", Kind: "Node", ShortNames: []string{"no"}, Verbs: metav1.Verbs{"get", "list", "patch"}},
	{Name: "events", SingularName: "event", Namespaced: true, Kind: "Event", ShortNames: []string{"ev"}, Verbs: metav1.Verbs{"list", "watch"}},
	{Name: "namespaces", SingularName: "namespace", Kind: "Namespace", ShortNames: []string{"ns"}, Verbs: metav1.Verbs{"get", "list"}},
}

// serverVersion is the Kubernetes version whose API this is: that of the
// definitions in the OpenAPI document (its info.version, set by the
// generator from the k8s.io/kubernetes module, e.g. v1.37.2).
var serverVersion = sync.OnceValue(func() version.Info {
	var doc struct {
		Info struct {
			Version string `json:"version"`
		} `json:"info"`
	}
	_ = json.Unmarshal(openAPIV1, &doc)
	parts := strings.SplitN(strings.TrimPrefix(doc.Info.Version, "v"), ".", 3)
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	return version.Info{
		Major: parts[0], Minor: parts[1], GitVersion: fmt.Sprintf("v%s.%s.%s-miniagent", parts[0], parts[1], parts[2]), GitTreeState: "clean",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
})

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, serverVersion())
}

func (s *Server) apiVersions(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
	})
}

func (s *Server) resourceList(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: "v1", APIResources: apiResources,
	})
}

// groupList is /apis: no API groups, only the legacy core group at /api.
func (s *Server) groupList(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, &metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups:   []metav1.APIGroup{},
	})
}

// openAPIPaths is /openapi/v3: where each group version's document is,
// with its hash so clients can cache it.
func (s *Server) openAPIPaths(w http.ResponseWriter, _ *http.Request) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"paths": map[string]any{
		"api/v1": map[string]string{"serverRelativeURL": "/openapi/v3/api/v1?hash=" + openAPIHash()},
	}})
}

func (s *Server) openAPIDoc(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Etag", `"`+openAPIHash()+`"`)
	if r.URL.Query().Get("hash") == openAPIHash() {
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")
	} else {
		w.Header().Set("Cache-Control", "no-cache, private")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIV1)
}
