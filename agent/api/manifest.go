package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/miniagent/miniagent/agent/manifest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ManifestApplyPath is where the entry point's fast `apply -f FILE`
// (agent/cli/fast) sends the file as it is: the server decodes it, so the
// entry point links no Kubernetes package. Not a Kubernetes path.
const ManifestApplyPath = "/miniagent/v1/apply"

// applyManifest serves POST ManifestApplyPath. The body is one manifest
// file's bytes, decoded with the full CLI's own decoder (manifest.Decode,
// source naming the file in its errors); the query carries what the CLI
// would add: namespace (default "default"), explicitNamespace (-n was
// given) and force. It takes only what the full CLI would send as one
// request, a single named pod, and sends it on the path a PodList-less
// apply takes (the same JSON decoding, the same apply), with the same
// answer. Any other answer than 200 or 201 means nothing changed: the
// entry point then runs the full CLI, which says in its own words what is
// wrong.
func (s *Server) applyManifest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	explicit, err := boolParam(r, "explicitNamespace")
	if err != nil {
		WriteError(w, err)
		return
	}
	force, err := boolParam(r, "force")
	if err != nil {
		WriteError(w, err)
		return
	}
	ns := q.Get("namespace")
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	data, err := readBody(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	pods, err := manifest.Decode(data, q.Get("source"))
	if err != nil {
		WriteError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	if len(pods) != 1 || pods[0].Name == "" {
		WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("the manifest has %d pods: this path takes one named pod", len(pods))))
		return
	}
	p := pods[0]
	switch {
	case p.Namespace == "":
		p.Namespace = ns
	case explicit && p.Namespace != ns:
		WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the pod (%s) is not the one given (%s)", p.Namespace, ns)))
		return
	}
	// The pod as the full CLI's request carries it: marshalled, then
	// decoded as every applied pod is.
	wire, err := json.Marshal(p)
	if err != nil {
		WriteError(w, apierrors.NewInternalError(err))
		return
	}
	pod, err := decodePodJSON(wire)
	if err != nil {
		WriteError(w, err)
		return
	}
	s.apply(w, r, pod, force)
}
