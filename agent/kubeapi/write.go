package kubeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/miniagent/miniagent/agent/api"
)

const maxBodyBytes = 8 << 20

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read body: %v", err))
	}
	if len(data) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", maxBodyBytes))
	}
	return data, nil
}

// decodePod reads a pod as JSON. fieldValidation=Strict (kubectl's
// default) refuses unknown and duplicate fields naming them, as the
// apiserver does; Ignore and Warn drop them.
func decodePod(r *http.Request, data []byte) (*v1.Pod, error) {
	var pod v1.Pod
	strict, err := sigsjson.UnmarshalStrict(data, &pod, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("Pod in version \"v1\" cannot be handled as a Pod: %v", err))
	}
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "Strict":
		if len(strict) > 0 {
			msgs := make([]string, len(strict))
			for i, e := range strict {
				msgs[i] = e.Error()
			}
			return nil, apierrors.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
		}
	case "", "Ignore", "Warn":
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("fieldValidation: unsupported value %q, want Ignore, Warn or Strict", v))
	}
	if pod.Kind != "" && pod.Kind != "Pod" || pod.APIVersion != "" && pod.APIVersion != "v1" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body is %s %q, want kind Pod of apiVersion v1", pod.APIVersion, pod.Kind))
	}
	return &pod, nil
}

// refuseDryRun: the Backend has no dry run, so none is pretended.
func refuseDryRun(r *http.Request) error {
	if len(r.URL.Query()["dryRun"]) > 0 {
		return apierrors.NewBadRequest("dryRun is not supported by this server")
	}
	return nil
}

// createPod is POST .../pods: a new pod, AlreadyExists if one has its name.
func (s *Server) createPod(w http.ResponseWriter, r *http.Request) {
	if err := refuseDryRun(r); err != nil {
		api.WriteError(w, err)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" && ct != "" {
		api.WriteError(w, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "create", podsResource, "",
			fmt.Sprintf("the body of the request was in an unknown format %q - accepted media types include: application/json", ct), 0, false))
		return
	}
	data, err := readBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	pod, err := decodePod(r, data)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	ns := r.PathValue("ns")
	if pod.Namespace == "" {
		pod.Namespace = ns
	} else if pod.Namespace != ns {
		api.WriteError(w, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	if pod.Name == "" && pod.GenerateName != "" {
		pod.Name = pod.GenerateName + rand.String(5)
	}
	s.write.Lock()
	defer s.write.Unlock()
	if _, err := s.b.GetPod(r.Context(), ns, pod.Name); err == nil {
		api.WriteError(w, apierrors.NewAlreadyExists(podsResource, pod.Name))
		return
	} else if !apierrors.IsNotFound(err) {
		api.WriteError(w, err)
		return
	}
	pod.ManagedFields = nil
	pod.Kind, pod.APIVersion = "Pod", "v1"
	tracked, err := s.fm.Update(&v1.Pod{TypeMeta: pod.TypeMeta}, pod, userAgentManager(r))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	out, err := s.store(r.Context(), tracked.(*v1.Pod))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, out)
}

// store hands pod to the Backend (the only writer) and keeps its managed
// fields under the stored pod's UID.
func (s *Server) store(ctx context.Context, pod *v1.Pod) (*v1.Pod, error) {
	mf := pod.ManagedFields
	pod = pod.DeepCopy()
	pod.ManagedFields, pod.ResourceVersion, pod.Status = nil, "", v1.PodStatus{}
	stored, _, err := s.b.ApplyPod(ctx, pod)
	if err != nil {
		return nil, err
	}
	s.mf.set(stored.UID, mf)
	s.pruneManagedFields(ctx)
	return s.servePod(stored), nil
}

// pruneManagedFields forgets the managed fields of pods that are gone.
func (s *Server) pruneManagedFields(ctx context.Context) {
	pods, err := s.b.ListPods(ctx, "")
	if err != nil {
		return
	}
	live := make(map[types.UID]bool, len(pods))
	for i := range pods {
		live[pods[i].UID] = true
	}
	s.mf.retain(live)
}

// patchPod is PATCH .../pods/NAME with a JSON patch, a JSON merge patch, a
// strategic merge patch or an apply patch (server-side apply, which also
// creates the pod). The result is an update like any other: the Backend
// changes the pod in place or refuses with the apiserver's message.
func (s *Server) patchPod(w http.ResponseWriter, r *http.Request) {
	if err := refuseDryRun(r); err != nil {
		api.WriteError(w, err)
		return
	}
	data, err := readBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	pt := types.PatchType(ct)
	ns, name := r.PathValue("ns"), r.PathValue("name")
	s.write.Lock()
	defer s.write.Unlock()
	live, err := s.b.GetPod(r.Context(), ns, name)
	switch {
	case apierrors.IsNotFound(err) && pt == types.ApplyPatchType:
		live = &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	case err != nil:
		api.WriteError(w, err)
		return
	default:
		s.servePod(live)
	}
	live.Kind, live.APIVersion = "Pod", "v1"
	patched, err := s.applyPatch(r, pt, live, data)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if patched.Name != name || patched.Namespace != ns {
		api.WriteError(w, apierrors.NewBadRequest("the name and namespace of a pod cannot be changed by a patch"))
		return
	}
	if live.UID != "" && patched.ResourceVersion != "" && patched.ResourceVersion != live.ResourceVersion {
		api.WriteError(w, apierrors.NewConflict(podsResource, name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again")))
		return
	}
	out, err := s.store(r.Context(), patched)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	code := http.StatusOK
	if live.UID == "" {
		code = http.StatusCreated
	}
	api.WriteJSON(w, code, out)
}

// applyPatch computes the patched pod, its managed fields updated.
func (s *Server) applyPatch(r *http.Request, pt types.PatchType, live *v1.Pod, patch []byte) (*v1.Pod, error) {
	manager := userAgentManager(r)
	if pt == types.ApplyPatchType {
		if r.URL.Query().Get("fieldManager") == "" {
			return nil, apierrors.NewBadRequest("PATCH requests with apply content type must specify a fieldManager")
		}
		var applied map[string]any
		if err := yaml.Unmarshal(patch, &applied); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
		}
		obj := &unstructured.Unstructured{Object: applied}
		if obj.GetKind() != "Pod" || obj.GetAPIVersion() != "v1" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the apply patch is %s %q, want kind Pod of apiVersion v1", obj.GetAPIVersion(), obj.GetKind()))
		}
		out, err := s.fm.Apply(live, obj, manager, r.URL.Query().Get("force") == "true")
		if err != nil {
			return nil, err
		}
		return out.(*v1.Pod), nil
	}
	cur, err := json.Marshal(live)
	if err != nil {
		return nil, err
	}
	next, err := patchJSON(pt, cur, patch, v1.Pod{})
	if err != nil {
		return nil, err
	}
	pod, err := decodePod(r, next)
	if err != nil {
		return nil, err
	}
	pod.Kind, pod.APIVersion = "Pod", "v1"
	out, err := s.fm.Update(live, pod, manager)
	if err != nil {
		return nil, err
	}
	return out.(*v1.Pod), nil
}

// deletePod is the local API's delete; the pod's managed fields go once
// it is gone (pruneManagedFields).
func (s *Server) deletePod(w http.ResponseWriter, r *http.Request) {
	if err := refuseDryRun(r); err != nil {
		api.WriteError(w, err)
		return
	}
	s.local.ServeHTTP(w, r)
}

// patchJSON applies a JSON, JSON merge or strategic merge patch (whose
// merge keys are those of dataStruct's type) to cur.
func patchJSON(pt types.PatchType, cur, patch []byte, dataStruct any) ([]byte, error) {
	var next []byte
	var err error
	switch pt {
	case types.JSONPatchType:
		p, perr := jsonpatch.DecodePatch(patch)
		if perr != nil {
			return nil, apierrors.NewBadRequest(perr.Error())
		}
		next, err = p.Apply(cur)
	case types.MergePatchType:
		next, err = jsonpatch.MergePatch(cur, patch)
	case types.StrategicMergePatchType:
		next, err = strategicpatch.StrategicMergePatch(cur, patch, dataStruct)
	default:
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", podsResource, "",
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s, %s",
				types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyPatchType), 0, false)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the patch could not be applied: %v", err))
	}
	return next, nil
}
