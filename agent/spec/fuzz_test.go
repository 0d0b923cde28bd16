package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/miniagent/miniagent/agent/manifest"
)

// FuzzDecodeManifest feeds arbitrary bytes through what the agent does with
// a manifest file: Decode, then SetDefaults and Validate for every pod. None
// of it may panic, and for every decoded pod:
//
//   - Validate does not change the pod and gives the same errors twice;
//   - SetDefaults is idempotent: a second call changes nothing, so a pod
//     that validated once still validates;
//   - a pod that validated survives the JSON round trip the agent's
//     checkpoints make: marshalled and decoded again it is the same pod and
//     still valid.
//
// The seed corpus is every manifest in testdata and in the repository's
// examples directory, plus a few inputs of the other shapes Decode reads.
func FuzzDecodeManifest(f *testing.F) {
	var files []string
	for _, pattern := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml", "../../examples/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		f.Fatal("no seed manifests")
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"---\n---\n",
		"null",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`,
		`{"apiVersion":"v1","kind":"List","items":[null,{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}}]} {"apiVersion":"v1","kind":"PodList","items":[]}`,
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - {name: c, image: busybox, resources: {limits: {cpu: 1.5, memory: 1Gi}}}\n  volumes: [{name: v}]\n",
		"- 1\n- 2\n",
		"\"just a string\"",
		"apiVersion: v1\nkind: Pod\nmetadata: &m {name: a}\nspec: *m\n",
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		pods, err := manifest.Decode(data, "fuzz.yaml")
		if err != nil {
			if pods != nil {
				t.Fatalf("Decode returned %d pods with error %v", len(pods), err)
			}
			if err.Error() == "" {
				t.Fatal("Decode returned an empty error")
			}
			return
		}
		for i, pod := range pods {
			if pod == nil {
				t.Fatalf("pod %d is nil", i)
			}
			checkPod(t, pod)
		}
	})
}

// checkPod runs one decoded pod through defaulting and validation and
// checks the properties listed on FuzzDecodeManifest.
func checkPod(t *testing.T, pod *v1.Pod) {
	SetDefaults(pod)
	defaulted := pod.DeepCopy()
	errs := Validate(pod)
	if !apiequality.Semantic.DeepEqual(pod, defaulted) {
		t.Fatalf("Validate changed the pod:\nbefore %+v\nafter  %+v", defaulted, pod)
	}
	if again := Validate(pod); !slices.Equal(errorTexts(errs), errorTexts(again)) {
		t.Fatalf("Validate is not deterministic:\n%v\n%v", errorTexts(errs), errorTexts(again))
	}

	twice := pod.DeepCopy()
	SetDefaults(twice)
	if !apiequality.Semantic.DeepEqual(pod, twice) {
		t.Fatalf("SetDefaults is not idempotent:\nonce  %+v\ntwice %+v", pod, twice)
	}
	if len(errs) == 0 {
		if errs := Validate(twice); len(errs) > 0 {
			t.Fatalf("valid pod rejected after a second SetDefaults: %v", errs.ToAggregate())
		}
	}

	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		NormalizeImage(c.Image) // must not panic; errors are fine
	}

	if len(errs) > 0 {
		return
	}
	data, err := json.Marshal(pod)
	if err != nil {
		t.Fatalf("marshal a valid pod: %v", err)
	}
	back, err := manifest.Decode(data, "roundtrip.json")
	if err != nil {
		t.Fatalf("a valid pod does not decode after marshalling: %v\n%s", err, data)
	}
	if len(back) != 1 {
		t.Fatalf("round trip gave %d pods, want 1", len(back))
	}
	if !apiequality.Semantic.DeepEqual(pod, back[0]) {
		t.Fatalf("round trip changed the pod:\nbefore %+v\nafter  %+v\njson %s", pod, back[0], data)
	}
	if errs := Validate(back[0]); len(errs) > 0 {
		t.Fatalf("valid pod rejected after the round trip: %v", errs.ToAggregate())
	}
}

// errorTexts returns the sorted messages of errs (map iteration inside the
// validators may order them differently from call to call).
func errorTexts(errs field.ErrorList) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	slices.Sort(out)
	return out
}
