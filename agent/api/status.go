package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ApplyResultHeader is the response header of POST/PUT on a pod that says
// what applying did: "created", "configured" or "unchanged".
const ApplyResultHeader = "X-Miniagent-Apply-Result"

// Apply results carried in ApplyResultHeader.
const (
	ApplyCreated    = "created"
	ApplyConfigured = "configured"
	ApplyUnchanged  = "unchanged"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// statusOf turns any error into the metav1.Status sent to the client:
// apierrors values keep their own status, anything else is a 500.
func StatusOf(err error) metav1.Status {
	var as apierrors.APIStatus
	if errors.As(err, &as) {
		st := as.Status()
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		st.Kind, st.APIVersion = "Status", "v1"
		return st
	}
	st := apierrors.NewInternalError(err).Status()
	st.Kind, st.APIVersion = "Status", "v1"
	return st
}

func WriteJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		data, _ = json.Marshal(StatusOf(fmt.Errorf("encode response: %w", err)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

func WriteError(w http.ResponseWriter, err error) {
	st := StatusOf(err)
	WriteJSON(w, int(st.Code), st)
}

// errorFromBody rebuilds the server's error from a non-2xx response body. If
// the body is not a Status, a generic status for the HTTP code is made.
func errorFromBody(code int, body []byte) error {
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err == nil && st.Kind == "Status" {
		if st.Code == 0 {
			st.Code = int32(code)
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	return apierrors.NewGenericServerResponse(code, "", podsResource, "", string(body), 0, false)
}
