package kubeapi

import (
	"encoding/json"
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// newFieldManager is apimachinery's field manager for v1 Pods, with the
// structured-merge-diff types of the served OpenAPI schemas. Like the
// apiserver's pod strategy, it resets status on writes of the pod itself.
func newFieldManager() (*managedfields.FieldManager, error) {
	var doc struct {
		Components struct {
			Schemas map[string]*spec.Schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIV1, &doc); err != nil {
		return nil, fmt.Errorf("kubeapi: read the OpenAPI document: %w", err)
	}
	tc, err := managedfields.NewTypeConverter(doc.Components.Schemas, false)
	if err != nil {
		return nil, fmt.Errorf("kubeapi: OpenAPI schemas: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	reset := map[fieldpath.APIVersion]fieldpath.Filter{"v1": fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))}
	return managedfields.NewDefaultFieldManager(tc, scheme, scheme, scheme, v1.SchemeGroupVersion.WithKind("Pod"), v1.SchemeGroupVersion, "", reset)
}

// managedFieldsStore keeps each pod's managed fields by UID: the agent's
// pod records do not hold them.
type managedFieldsStore struct {
	mu sync.Mutex
	m  map[types.UID][]metav1.ManagedFieldsEntry
}

func newManagedFieldsStore() *managedFieldsStore {
	return &managedFieldsStore{m: map[types.UID][]metav1.ManagedFieldsEntry{}}
}

func (s *managedFieldsStore) get(uid types.UID) []metav1.ManagedFieldsEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	mf := s.m[uid]
	if mf == nil {
		return nil
	}
	out := make([]metav1.ManagedFieldsEntry, len(mf))
	for i := range mf {
		mf[i].DeepCopyInto(&out[i])
	}
	return out
}

func (s *managedFieldsStore) set(uid types.UID, mf []metav1.ManagedFieldsEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[uid] = mf
}

// retain forgets every UID not in live.
func (s *managedFieldsStore) retain(live map[types.UID]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for uid := range s.m {
		if !live[uid] {
			delete(s.m, uid)
		}
	}
}
