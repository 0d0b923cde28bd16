package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsjson "sigs.k8s.io/json"
)

const maxBodyBytes = 8 << 20

// listQuery is what a pod list or watch request selects.
type listQuery struct {
	name  string // from the path or fieldSelector=metadata.name=
	sel   labels.Selector
	watch bool
}

func parseListQuery(r *http.Request) (listQuery, error) {
	q := listQuery{name: r.PathValue("name"), sel: labels.Everything()}
	var err error
	if q.watch, err = boolParam(r, "watch"); err != nil {
		return q, err
	}
	if ls := r.URL.Query().Get("labelSelector"); ls != "" {
		if q.sel, err = labels.Parse(ls); err != nil {
			return q, apierrors.NewBadRequest(fmt.Sprintf("invalid labelSelector %q: %v", ls, err))
		}
	}
	fields, err := parseFieldSelector(r.URL.Query().Get("fieldSelector"))
	if err != nil {
		return q, err
	}
	for k, v := range fields {
		switch k {
		case "metadata.name":
			q.name = v
		case "metadata.namespace":
			if ns := r.PathValue("ns"); ns != "" && ns != v {
				q.name = "\x00" // matches nothing
			}
		default:
			return q, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", k))
		}
	}
	return q, nil
}

func (q listQuery) matches(p *v1.Pod) bool {
	return (q.name == "" || p.Name == q.name) && q.sel.Matches(labels.Set(p.Labels))
}

// parseFieldSelector understands the k=v,k2==v2 form kubectl sends.
func parseFieldSelector(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, term := range strings.Split(s, ",") {
		if strings.Contains(term, "!=") {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("unsupported field selector %q", term))
		}
		k, v, ok := strings.Cut(term, "=")
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector %q", term))
		}
		out[strings.TrimSpace(k)] = strings.TrimPrefix(strings.TrimSpace(v), "=")
	}
	return out, nil
}

func boolParam(r *http.Request, key string) (bool, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apierrors.NewBadRequest(fmt.Sprintf("invalid value %q for %s: must be true or false", v, key))
	}
	return b, nil
}

func setPodKind(p *v1.Pod) { p.Kind, p.APIVersion = "Pod", "v1" }

func (s *Server) listPods(w http.ResponseWriter, r *http.Request) {
	q, err := parseListQuery(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	ns := r.PathValue("ns")
	if q.watch {
		s.watchPods(w, r, ns, q)
		return
	}
	pods, err := s.b.ListPods(r.Context(), ns)
	if err != nil {
		WriteError(w, err)
		return
	}
	list := v1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: []v1.Pod{}}
	for i := range pods {
		if q.matches(&pods[i]) {
			setPodKind(&pods[i])
			list.Items = append(list.Items, pods[i])
		}
	}
	if s.podTable != nil && wantsTable(r) {
		WriteJSON(w, http.StatusOK, s.podTable(list.Items, s.clockNow()))
		return
	}
	WriteJSON(w, http.StatusOK, &list)
}

func (s *Server) getPod(w http.ResponseWriter, r *http.Request) {
	q, err := parseListQuery(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	if q.watch {
		s.watchPods(w, r, r.PathValue("ns"), q)
		return
	}
	pod, err := s.b.GetPod(r.Context(), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		WriteError(w, err)
		return
	}
	setPodKind(pod)
	WriteJSON(w, http.StatusOK, pod)
}

// decodePod reads a v1.Pod strictly: unknown or duplicate fields are a 400
// naming the field, like kube-apiserver with fieldValidation=Strict.
func decodePod(r *http.Request) (*v1.Pod, error) {
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return decodePodJSON(data)
}

// readBody reads a request body of at most maxBodyBytes.
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

// decodePodJSON is decodePod's decoding of the body.
func decodePodJSON(data []byte) (*v1.Pod, error) {
	var pod v1.Pod
	strict, err := sigsjson.UnmarshalStrict(data, &pod, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("Pod in version \"v1\" cannot be handled as a Pod: %v", err))
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return nil, apierrors.NewBadRequest("Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: " + strings.Join(msgs, ", "))
	}
	if pod.Kind != "" && pod.Kind != "Pod" || pod.APIVersion != "" && pod.APIVersion != "v1" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the body is %s %q, want kind Pod of apiVersion v1", pod.APIVersion, pod.Kind))
	}
	return &pod, nil
}

func (s *Server) applyPod(w http.ResponseWriter, r *http.Request) {
	pod, err := decodePod(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	ns := r.PathValue("ns")
	if pod.Namespace == "" {
		pod.Namespace = ns
	} else if pod.Namespace != ns {
		WriteError(w, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	if name := r.PathValue("name"); name != "" && pod.Name != name {
		WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", pod.Name, name)))
		return
	}
	force, err := boolParam(r, "force")
	if err != nil {
		WriteError(w, err)
		return
	}
	s.apply(w, r, pod, force)
}

// apply stores pod (force: replace it when the change cannot be made in
// place) and answers with the stored pod and the ApplyResultHeader.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, pod *v1.Pod, force bool) {
	ns := pod.Namespace
	var before *v1.Pod
	if pod.Name != "" {
		before, _ = s.b.GetPod(r.Context(), ns, pod.Name)
	}
	apply := s.b.ApplyPod
	if force {
		apply = s.b.ReplacePod
	}
	stored, created, err := apply(r.Context(), pod)
	if err != nil {
		WriteError(w, err)
		return
	}
	result, code := ApplyConfigured, http.StatusOK
	switch {
	case created:
		result, code = ApplyCreated, http.StatusCreated
	case before != nil && sameDesired(before, stored):
		result = ApplyUnchanged
	}
	w.Header().Set(ApplyResultHeader, result)
	setPodKind(stored)
	WriteJSON(w, code, stored)
}

// sameDesired reports whether applying left what the user controls as it was.
func sameDesired(a, b *v1.Pod) bool {
	return a.UID == b.UID &&
		apiequality.Semantic.DeepEqual(a.Spec, b.Spec) &&
		apiequality.Semantic.DeepEqual(a.Labels, b.Labels) &&
		apiequality.Semantic.DeepEqual(a.Annotations, b.Annotations)
}

func (s *Server) deletePod(w http.ResponseWriter, r *http.Request) {
	var opts metav1.DeleteOptions
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("read body: %v", err)))
		return
	}
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := json.Unmarshal(data, &opts); err != nil {
			WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err)))
			return
		}
	}
	if g := r.URL.Query().Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil || n < 0 {
			WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", g)))
			return
		}
		opts.GracePeriodSeconds = &n
	}
	wait, err := boolParam(r, "wait")
	if err != nil {
		WriteError(w, err)
		return
	}
	pod, err := s.b.DeletePod(r.Context(), r.PathValue("ns"), r.PathValue("name"), opts.GracePeriodSeconds, wait)
	if err != nil {
		WriteError(w, err)
		return
	}
	setPodKind(pod)
	WriteJSON(w, http.StatusOK, pod)
}

// wantsTable tells whether r accepts a meta.k8s.io/v1 Table first, as
// `kubectl get` and `miniagent get pods` ask.
func wantsTable(r *http.Request) bool {
	first, _, _ := strings.Cut(r.Header.Get("Accept"), ",")
	return strings.Contains(first, "as=Table") && strings.Contains(first, "g=meta.k8s.io") &&
		(strings.Contains(first, "v=v1;") || strings.HasSuffix(first, "v=v1"))
}
