package agent

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/apivolume"
)

// fakeAPIVolumes fails SetUp while err is set and records the calls.
type fakeAPIVolumes struct {
	mu        sync.Mutex
	err       error
	setUps    int
	tornDown  []types.UID
	lastPodIn string
}

func (f *fakeAPIVolumes) SetUp(_ context.Context, pod *v1.Pod, podDir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setUps++
	f.lastPodIn = podDir
	return f.err
}

func (f *fakeAPIVolumes) TearDown(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tornDown = append(f.tornDown, uid)
}

func (f *fakeAPIVolumes) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeAPIVolumes) torn(uid types.UID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.tornDown, uid)
}

// A pod from the API server with the token volume the API server adds and
// a configMap volume: while the volumes cannot be set up it waits
// ContainerCreating with a FailedMount event and no container; then it
// runs with the volumes mounted read-only; its deletion tears them down.
func TestAPIServerPodAPIVolumes(t *testing.T) {
	h, _ := newSourceHarness(t)
	vols := &fakeAPIVolumes{err: errors.New(`MountVolume.SetUp failed for volume "cfg" : configmap "app" not found`)}
	h.a.opts.APIVolumes = vols
	h.apiVolumes = vols // and the restarted agent's
	pod := apiPod("web", "uid-1", func(p *v1.Pod) {
		p.Spec.Volumes = []v1.Volume{
			{Name: "kube-api-access-x", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
				{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token"}}}}}},
			{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "app"}}}},
		}
		p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{
			{Name: "kube-api-access-x", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
			{Name: "cfg", MountPath: "/etc/config"},
		}
	})
	h.sourceSet(pod)
	h.eventually("FailedMount event", func() bool {
		evs, _ := h.a.PodEvents(context.Background(), "default", "web")
		for _, e := range evs {
			if e.Reason == ReasonFailedMount && e.Type == v1.EventTypeWarning && e.Message == `MountVolume.SetUp failed for volume "cfg" : configmap "app" not found` {
				return true
			}
		}
		return false
	})
	p := h.pod("web")
	if p.Status.Phase != v1.PodPending || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil ||
		p.Status.ContainerStatuses[0].State.Waiting.Reason != ReasonContainerCreating {
		t.Fatalf("status while the volume fails: %+v", p.Status)
	}
	if n := len(h.rt.Containers()); n != 0 {
		t.Fatalf("%d containers before the volumes are set up", n)
	}

	vols.setErr(nil)
	h.clock.Step(retryDelay) // the retry
	h.waitRunning("web", "app")
	vols.mu.Lock()
	dir := vols.lastPodIn
	vols.mu.Unlock()
	if want := filepath.Join(h.root, "pods", "uid-1"); dir != want {
		t.Errorf("SetUp got pod dir %q, want %q", dir, want)
	}
	mounts := map[string][]string{}
	for _, m := range h.rt.Containers()[0].Spec.Mounts {
		mounts[m.Destination] = append([]string{m.Source}, m.Options...)
	}
	for dest, src := range map[string]string{
		"/var/run/secrets/kubernetes.io/serviceaccount": filepath.Join(h.root, "pods/uid-1/volumes", apivolume.DirProjected, "kube-api-access-x"),
		"/etc/config": filepath.Join(h.root, "pods/uid-1/volumes", apivolume.DirConfigMap, "cfg"),
	} {
		m := mounts[dest]
		if len(m) < 3 || m[0] != src || !slices.Contains(m[1:], "ro") {
			t.Errorf("mount %s = %v, want %s read-only", dest, m, src)
		}
	}

	// A restarted agent re-adopts the running pod and sets its volumes up
	// again (their refresher ran in the old process).
	vols.mu.Lock()
	before := vols.setUps
	vols.mu.Unlock()
	h.stop()
	h.start()
	h.sourceSet(pod)
	h.eventually("volumes set up again after the restart", func() bool {
		vols.mu.Lock()
		defer vols.mu.Unlock()
		return vols.setUps > before
	})
	if n := len(h.rt.Containers()); n != 1 {
		t.Fatalf("%d containers after the restart, want the same 1", n)
	}

	h.sourceSet() // deleted in the API server
	h.eventually("volumes torn down with the pod", func() bool { return vols.torn("uid-1") })
}
