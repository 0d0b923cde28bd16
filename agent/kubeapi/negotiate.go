package kubeapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/munnerz/goautoneg"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// format is the representation a request asked for.
type format struct {
	table        bool
	tableVersion string // v1 or v1beta1
	// includeObject is the Table rows' object: None, Metadata (the
	// default) or Object.
	includeObject metav1.IncludeObjectPolicy
}

// negotiate picks the first acceptable media type of the Accept header, as
// the apiserver does: application/json as itself, or as a meta.k8s.io
// Table (v1 or v1beta1); protobuf and other conversions are not served.
// No Accept header, */* and application/* are JSON.
func negotiate(r *http.Request) (format, error) {
	f := format{includeObject: metav1.IncludeMetadata}
	switch p := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")); p {
	case "":
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
		f.includeObject = p
	default:
		return f, apierrors.NewBadRequest(fmt.Sprintf("includeObject: unsupported value %q, want None, Metadata or Object", p))
	}
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		return f, nil
	}
	for _, a := range goautoneg.ParseAccept(accept) {
		if a.Type != "application" && a.Type != "*" || a.SubType != "json" && a.SubType != "*" {
			continue
		}
		as, g, v := a.Params["as"], a.Params["g"], a.Params["v"]
		switch {
		case as == "":
			return f, nil
		case as == "Table" && g == "meta.k8s.io" && (v == "v1" || v == "v1beta1"):
			f.table, f.tableVersion = true, v
			return f, nil
		}
	}
	return f, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", podsResource, "",
		fmt.Sprintf("only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io (not %q)", accept), 0, false)
}
