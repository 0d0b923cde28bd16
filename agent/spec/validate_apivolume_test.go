package spec

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// The volumes an API server resolves: accepted from one (cluster mode),
// refused with a field error standalone.
func TestValidateAPIVolumes(t *testing.T) {
	kubeAPIAccess := v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
		{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token"}},
		{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
		{DownwardAPI: &v1.DownwardAPIProjection{}},
		{Secret: &v1.SecretProjection{LocalObjectReference: v1.LocalObjectReference{Name: "s"}}},
	}}}
	tests := []struct {
		name       string
		src        v1.VolumeSource
		clusterErr string // "" = accepted from an API server
	}{
		{"projected kube-api-access", kubeAPIAccess, ""},
		{"configMap", v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "c"}}}, ""},
		{"secret", v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "s"}}, ""},
		{"downwardAPI", v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{}}, ""},
		{"projected clusterTrustBundle", v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
			{ClusterTrustBundle: &v1.ClusterTrustBundleProjection{Path: "b"}}}}},
			`spec.volumes[0].projected.sources[0]: Unsupported value: "clusterTrustBundle": supported values: "serviceAccountToken", "configMap", "secret", "downwardAPI"`},
		{"nfs", v1.VolumeSource{NFS: &v1.NFSVolumeSource{Server: "n", Path: "/"}},
			`spec.volumes[0]: Unsupported value: "nfs": supported values: "emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod(t)
			p.Spec.Volumes[0].VolumeSource = tc.src
			errs := ValidateFromAPIServer(p)
			if got := errs.ToAggregate(); (tc.clusterErr == "") != (got == nil) || (got != nil && got.Error() != tc.clusterErr) {
				t.Errorf("ValidateFromAPIServer = %v, want %q", got, tc.clusterErr)
			}
			// Standalone: refused, naming the field and what is supported.
			got := Validate(p).ToAggregate()
			if got == nil || !strings.Contains(got.Error(), "spec.volumes[0]: Unsupported value: ") || !strings.Contains(got.Error(), `supported values: "emptyDir", "hostPath"`) {
				t.Errorf("Validate = %v, want the volume refused", got)
			}
		})
	}
}
