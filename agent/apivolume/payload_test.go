package apivolume

import (
	"errors"
	"os"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeObjects serves configMaps and secrets from maps and numbered tokens.
type fakeObjects struct {
	cms     map[string]*v1.ConfigMap
	secrets map[string]*v1.Secret
	err     error
}

func (f fakeObjects) ConfigMap(_, name string) (*v1.ConfigMap, error) { return f.cms[name], f.err }
func (f fakeObjects) Secret(_, name string) (*v1.Secret, error)       { return f.secrets[name], f.err }
func (f fakeObjects) Token(_ *v1.Pod, src *v1.ServiceAccountTokenProjection) (string, error) {
	return "token-for-" + src.Audience, f.err
}

func ptr[T any](v T) *T { return &v }

func TestPayload(t *testing.T) {
	objs := fakeObjects{
		cms: map[string]*v1.ConfigMap{"cfg": {
			Data:       map[string]string{"a": "A", "b": "B"},
			BinaryData: map[string][]byte{"bin": {0, 1}},
		}, "kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA"}}},
		secrets: map[string]*v1.Secret{"sec": {Data: map[string][]byte{"user": []byte("u"), "pass": []byte("p")}}},
	}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "x", "b": "y"}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c"}}}}
	rw := os.FileMode(0o644)
	tests := []struct {
		name    string
		src     v1.VolumeSource
		want    map[string]File
		wantErr string
	}{
		{"configMap all keys", v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}},
			map[string]File{"a": {[]byte("A"), rw}, "b": {[]byte("B"), rw}, "bin": {[]byte{0, 1}, rw}}, ""},
		{"configMap items and modes", v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"},
			DefaultMode: ptr(int32(0o400)), Items: []v1.KeyToPath{{Key: "a", Path: "dir/a.txt"}, {Key: "b", Path: "b", Mode: ptr(int32(0o755))}}}},
			map[string]File{"dir/a.txt": {[]byte("A"), 0o400}, "b": {[]byte("B"), 0o755}}, ""},
		{"configMap missing", v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "nope"}}},
			nil, `configmap "nope" not found`},
		{"configMap missing optional", v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
			map[string]File{}, ""},
		{"configMap missing key", v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"},
			Items: []v1.KeyToPath{{Key: "zz", Path: "zz"}}}}, nil, `configmap "cfg" references non-existent config key: zz`},
		{"configMap missing key optional", v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"},
			Optional: ptr(true), Items: []v1.KeyToPath{{Key: "zz", Path: "zz"}, {Key: "a", Path: "a"}}}}, map[string]File{"a": {[]byte("A"), rw}}, ""},
		{"configMap path escaping", v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"},
			Items: []v1.KeyToPath{{Key: "a", Path: "../a"}}}}, nil, `invalid path "../a": must not start with '..'`},
		{"secret", v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptr(int32(0o440))}},
			map[string]File{"user": {[]byte("u"), 0o440}, "pass": {[]byte("p"), 0o440}}, ""},
		{"secret missing", v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "gone"}}, nil, `secret "gone" not found`},
		{"downwardAPI", v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}, Mode: ptr(int32(0o600))},
			{Path: "uid", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
		}}}, map[string]File{"name": {[]byte("p"), rw}, "labels": {[]byte("app=\"x\"\nb=\"y\""), 0o600}, "uid": {[]byte("u1"), rw}}, ""},
		{"downwardAPI resource without container", v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
			{Path: "cpu", ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu"}}}}},
			nil, `downward API "cpu": resourceFieldRef: containerName is required in volumes`},
		{"projected kube-api-access", v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{DefaultMode: ptr(int32(0o644)), Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
			{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []v1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			{Secret: &v1.SecretProjection{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Items: []v1.KeyToPath{{Key: "user", Path: "user", Mode: ptr(int32(0o400))}}}},
		}}}, map[string]File{"token": {[]byte("token-for-"), rw}, "ca.crt": {[]byte("CA"), rw}, "namespace": {[]byte("ns"), rw}, "user": {[]byte("u"), 0o400}}, ""},
		{"projected missing configMap", v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
			{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "nope"}}}}}},
			nil, `couldn't get configMap ns/nope: configmap "nope" not found`},
		{"projected duplicate path", v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "a"}},
			{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Items: []v1.KeyToPath{{Key: "a", Path: "a"}}}}}}},
			nil, `couldn't get configMap ns/cfg: duplicate path "a"`},
		{"projected clusterTrustBundle", v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
			{ClusterTrustBundle: &v1.ClusterTrustBundleProjection{Path: "b"}}}}}, nil, "sources[0]: not supported by miniagent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := &v1.Volume{Name: "v", VolumeSource: tc.src}
			got, err := Payload(pod, v, objs, Env{})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("payload = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPayloadFetchError(t *testing.T) {
	boom := errors.New("connection refused")
	v := &v1.Volume{Name: "v", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}}
	if _, err := Payload(&v1.Pod{}, v, fakeObjects{err: boom}, Env{}); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the fetch error", err)
	}
}

func TestDir(t *testing.T) {
	for src, want := range map[*v1.VolumeSource]string{
		{ConfigMap: &v1.ConfigMapVolumeSource{}}:     "/p/volumes/kubernetes.io~configmap/v",
		{Secret: &v1.SecretVolumeSource{}}:           "/p/volumes/kubernetes.io~secret/v",
		{DownwardAPI: &v1.DownwardAPIVolumeSource{}}: "/p/volumes/kubernetes.io~downward-api/v",
		{Projected: &v1.ProjectedVolumeSource{}}:     "/p/volumes/kubernetes.io~projected/v",
		{EmptyDir: &v1.EmptyDirVolumeSource{}}:       "",
	} {
		v := &v1.Volume{Name: "v", VolumeSource: *src}
		if got := Dir("/p", v); got != want {
			t.Errorf("Dir(%v) = %q, want %q", src, got, want)
		}
		if IsAPIVolume(v) != (want != "") {
			t.Errorf("IsAPIVolume(%v) = %v", src, IsAPIVolume(v))
		}
	}
}
