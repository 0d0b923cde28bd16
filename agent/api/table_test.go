package api

import (
	"net/http/httptest"
	"testing"
)

func TestWantsTable(t *testing.T) {
	for _, tc := range []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"application/json", false},
		{"application/json;as=Table;v=v1;g=meta.k8s.io", true},
		{"application/json;as=Table;g=meta.k8s.io;v=v1", true},
		{"application/json;as=Table;v=v1;g=meta.k8s.io,application/json", true},
		{"application/json,application/json;as=Table;v=v1;g=meta.k8s.io", false}, // JSON first
		{"application/json;as=Table;v=v1beta1;g=meta.k8s.io", false},
		{"application/json;as=Table;v=v1", false},
	} {
		r := httptest.NewRequest("GET", "/api/v1/pods", nil)
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if got := wantsTable(r); got != tc.want {
			t.Errorf("wantsTable(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}
