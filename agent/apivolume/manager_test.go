package apivolume

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
)

// tokenAPI answers TokenRequests with numbered tokens of the requested
// lifetime and records the requests.
type tokenAPI struct {
	clock *testingclock.FakeClock
	mu    sync.Mutex
	reqs  []k8stesting.CreateAction
}

func (a *tokenAPI) react(action k8stesting.Action) (bool, runtime.Object, error) {
	if action.GetSubresource() != "token" {
		return false, nil, nil
	}
	ca := action.(k8stesting.CreateAction)
	a.mu.Lock()
	a.reqs = append(a.reqs, ca)
	n := len(a.reqs)
	a.mu.Unlock()
	tr := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
	tr.Status = authenticationv1.TokenRequestStatus{
		Token:               fmt.Sprintf("tok%d", n),
		ExpirationTimestamp: metav1.NewTime(a.clock.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second)),
	}
	return true, tr, nil
}

func (a *tokenAPI) requests() []k8stesting.CreateAction {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]k8stesting.CreateAction(nil), a.reqs...)
}

type rig struct {
	t      *testing.T
	clock  *testingclock.FakeClock
	client *fake.Clientset
	tokens *tokenAPI
	m      *Manager
	dir    string
	mounts []string
}

func newRig(t *testing.T, objs ...runtime.Object) *rig {
	r := &rig{t: t, clock: testingclock.NewFakeClock(time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)), dir: t.TempDir()}
	r.client = fake.NewClientset(objs...)
	r.tokens = &tokenAPI{clock: r.clock}
	r.client.PrependReactor("create", "serviceaccounts", r.tokens.react)
	r.m = NewManager(Options{Client: r.client, Clock: r.clock, Period: time.Minute})
	r.m.mountTmpfs = func(dir string) error { r.mounts = append(r.mounts, dir); return nil }
	return r
}

// eventually polls cond for up to 5 s (the refresher runs on its own goroutine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// accessPod has the kube-api-access volume the API server adds and a configMap volume.
func accessPod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid-1"},
		Spec: v1.PodSpec{ServiceAccountName: "builder", Containers: []v1.Container{{Name: "c"}}, Volumes: []v1.Volume{
			{Name: "kube-api-access-x", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{DefaultMode: ptr(int32(0o644)), Sources: []v1.VolumeProjection{
				{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(1000))}},
				{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []v1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			}}}},
			{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "app"}}}},
			{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		}},
	}
}

func TestManagerSetUpAndTokenRefresh(t *testing.T) {
	r := newRig(t,
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "ns"}, Data: map[string]string{"ca.crt": "CA"}},
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}, Data: map[string]string{"k": "v1"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pod := accessPod()
	if err := r.m.SetUp(ctx, pod, r.dir); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(r.dir, "volumes", DirProjected, "kube-api-access-x")
	cfg := filepath.Join(r.dir, "volumes", DirConfigMap, "cfg")
	if got := readFile(t, filepath.Join(proj, "token")); got != "tok1" {
		t.Errorf("token %q", got)
	}
	if readFile(t, filepath.Join(proj, "ca.crt")) != "CA" || readFile(t, filepath.Join(proj, "namespace")) != "ns" || readFile(t, filepath.Join(cfg, "k")) != "v1" {
		t.Error("projected or configMap content wrong")
	}
	if len(r.mounts) != 1 || r.mounts[0] != proj {
		t.Errorf("tmpfs mounts %v, want only the projected volume", r.mounts)
	}
	// The TokenRequest: the pod's service account, bound to the pod, the
	// volume's lifetime, the API server's audience.
	reqs := r.tokens.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d token requests, want 1", len(reqs))
	}
	tr := reqs[0].GetObject().(*authenticationv1.TokenRequest)
	if reqs[0].GetNamespace() != "ns" || reqs[0].(k8stesting.CreateActionImpl).Name != "builder" ||
		*tr.Spec.ExpirationSeconds != 1000 || len(tr.Spec.Audiences) != 0 ||
		*tr.Spec.BoundObjectRef != (authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", UID: "uid-1"}) {
		t.Errorf("token request %s/%s %+v", reqs[0].GetNamespace(), reqs[0].(k8stesting.CreateActionImpl).Name, tr.Spec)
	}
	if err := r.m.SetUp(ctx, pod, r.dir); err != nil || len(r.tokens.requests()) != 1 {
		t.Errorf("second SetUp: err %v, %d requests (want no new one)", err, len(r.tokens.requests()))
	}

	// 80 % of 1000 s is 800 s: the refresher wakes every minute (the
	// period), requesting a new token only at 800 s.
	for i := 1; i <= 13; i++ { // 780 s
		eventually(t, "the refresher waiting", r.clock.HasWaiters)
		r.clock.Step(time.Minute)
	}
	eventually(t, "the refresher waiting", r.clock.HasWaiters)
	if n := len(r.tokens.requests()); n != 1 {
		t.Fatalf("%d token requests at 780 s, want 1", n)
	}
	r.clock.Step(20 * time.Second) // 800 s
	eventually(t, "a new token at 80 % of the lifetime", func() bool { return len(r.tokens.requests()) == 2 })
	eventually(t, "the new token written", func() bool { return readFile(t, filepath.Join(proj, "token")) == "tok2" })

	// A changed configMap is written on the next period.
	cm, _ := r.client.CoreV1().ConfigMaps("ns").Get(ctx, "app", metav1.GetOptions{})
	cm.Data["k"] = "v2"
	if _, err := r.client.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refresher waiting", r.clock.HasWaiters)
	r.clock.Step(time.Minute)
	eventually(t, "the configMap update written", func() bool { return readFile(t, filepath.Join(cfg, "k")) == "v2" })

	// TearDown stops the refresher: no more requests however long.
	r.m.TearDown(pod.UID)
	if r.m.Pods() != 0 || r.clock.HasWaiters() {
		t.Errorf("after TearDown: %d pods, waiters %v", r.m.Pods(), r.clock.HasWaiters())
	}
	n := len(r.tokens.requests())
	r.clock.Step(time.Hour)
	time.Sleep(20 * time.Millisecond)
	if len(r.tokens.requests()) != n {
		t.Error("token requested after TearDown")
	}
}

func TestManagerMissingConfigMap(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: v1.PodSpec{Volumes: []v1.Volume{
		{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "app"}}}},
		{Name: "opt", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "maybe", Optional: ptr(true)}}},
	}}}
	err := r.m.SetUp(ctx, pod, r.dir)
	if want := `MountVolume.SetUp failed for volume "cfg" : configmap "app" not found`; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if r.m.Pods() != 0 {
		t.Error("a refresher runs for a pod that failed to set up")
	}
	if _, err := r.client.CoreV1().ConfigMaps("ns").Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.m.SetUp(ctx, pod, r.dir); err != nil {
		t.Fatalf("retry after the configMap was created: %v", err)
	}
	if got := readFile(t, filepath.Join(r.dir, "volumes", DirConfigMap, "cfg", "a")); got != "b" {
		t.Errorf("configMap file %q", got)
	}
	entries, err := os.ReadDir(filepath.Join(r.dir, "volumes", DirSecret, "opt"))
	if err != nil || len(entries) != 2 { // ..data and its empty directory
		t.Errorf("optional missing secret: %v entries (%v), want an empty volume", len(entries), err)
	}
	cancel() // the agent shuts down: the refresher ends
	r.m.TearDown(pod.UID)
}

func TestRefreshAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expires time.Time
		req     int64
		want    time.Duration
	}{
		{t0.Add(time.Hour), 3600, 48 * time.Minute},
		{t0.Add(365 * 24 * time.Hour), 3607, 24 * time.Hour}, // an extended token: daily
		{time.Time{}, 600, 8 * time.Minute},                  // no expiry in the answer
		{t0.Add(-time.Minute), 600, 8 * time.Minute},
	} {
		if got := RefreshAt(t0, tc.expires, tc.req).Sub(t0); got != tc.want {
			t.Errorf("RefreshAt(expires %v, %d s) = +%v, want +%v", tc.expires, tc.req, got, tc.want)
		}
	}
}
