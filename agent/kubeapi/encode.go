package kubeapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusOf is the metav1.Status sent for err: an apierrors value keeps its
// own, anything else is a 500.
func statusOf(err error) metav1.Status {
	var as apierrors.APIStatus
	st := apierrors.NewInternalError(err).Status()
	if errors.As(err, &as) {
		st = as.Status()
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
	}
	st.Kind, st.APIVersion = "Status", "v1"
	return st
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		data, _ = json.Marshal(statusOf(fmt.Errorf("encode response: %w", err)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, err error) {
	st := statusOf(err)
	writeJSON(w, int(st.Code), st)
}
