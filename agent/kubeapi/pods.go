package kubeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/api"
)

var podsResource = schema.GroupResource{Resource: "pods"}

// podQuery is what a pod list or watch selects.
type podQuery struct {
	labels labels.Selector
	fields fields.Selector
}

// podFields are the pod fields a field selector may name (the apiserver's
// selectable pod fields).
func podFields(p *v1.Pod) fields.Set {
	return fields.Set{
		"metadata.name": p.Name, "metadata.namespace": p.Namespace,
		"spec.nodeName": p.Spec.NodeName, "spec.restartPolicy": string(p.Spec.RestartPolicy),
		"spec.schedulerName": p.Spec.SchedulerName, "spec.serviceAccountName": p.Spec.ServiceAccountName,
		"spec.hostNetwork": strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":     string(p.Status.Phase), "status.podIP": p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	}
}

// parseSelectors reads labelSelector and fieldSelector; a field selector
// may only name the fields in allowed.
func parseSelectors(r *http.Request, allowed fields.Set) (labels.Selector, fields.Selector, error) {
	q := r.URL.Query()
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	for _, req := range fs.Requirements() {
		if _, ok := allowed[req.Field]; !ok {
			return nil, nil, apierrors.NewBadRequest("field label not supported: " + req.Field)
		}
	}
	return ls, fs, nil
}

func parsePodQuery(r *http.Request) (podQuery, error) {
	ls, fs, err := parseSelectors(r, podFields(&v1.Pod{}))
	return podQuery{labels: ls, fields: fs}, err
}

func (q podQuery) matches(p *v1.Pod) bool {
	return q.labels.Matches(labels.Set(p.Labels)) && q.fields.Matches(podFields(p))
}

func podKey(p *v1.Pod) string { return string(p.UID) }

// eventKey: events have no UID here; their name is unique in a namespace.
func eventKey(e *v1.Event) string { return e.Namespace + "/" + e.Name }

// contentVersion is an object's resourceVersion: a hash of its content.
func contentVersion(v any) string {
	data, _ := json.Marshal(v)
	h := fnv.New64a()
	h.Write(data)
	return strconv.FormatUint(h.Sum64()>>1, 10)
}

// servePod makes a Backend pod what this API returns: kind, its content
// version, the managed fields kept here.
func (s *Server) servePod(p *v1.Pod) *v1.Pod {
	p.Kind, p.APIVersion = "Pod", "v1"
	p.ResourceVersion, p.ManagedFields = "", nil
	p.ResourceVersion = contentVersion(p)
	p.ManagedFields = s.mf.get(p.UID)
	return p
}

func (s *Server) listPods(w http.ResponseWriter, r *http.Request) {
	q, err := parsePodQuery(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if isWatch(r) {
		s.watchPods(w, r, q)
		return
	}
	f, err := negotiate(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	pods, err := s.matchingPods(r.Context(), r.PathValue("ns"), q)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	rv := s.snaps.add(pods)
	if f.table {
		objs := make([]object, len(pods))
		for i := range pods {
			objs[i] = &pods[i]
		}
		api.WriteJSON(w, http.StatusOK, tableOf(f, rv, podColumns, objs, s.clock.Now()))
		return
	}
	api.WriteJSON(w, http.StatusOK, &v1.PodList{
		TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: rv}, Items: pods,
	})
}

// matchingPods lists the pods of ns ("" all) that q selects, served.
func (s *Server) matchingPods(ctx context.Context, ns string, q podQuery) ([]v1.Pod, error) {
	all, err := s.b.ListPods(ctx, ns)
	if err != nil {
		return nil, err
	}
	pods := []v1.Pod{}
	for i := range all {
		if q.matches(&all[i]) {
			pods = append(pods, *s.servePod(&all[i]))
		}
	}
	return pods, nil
}

func (s *Server) getPod(w http.ResponseWriter, r *http.Request) {
	f, err := negotiate(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	pod, err := s.b.GetPod(r.Context(), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	s.servePod(pod)
	if f.table {
		api.WriteJSON(w, http.StatusOK, tableOf(f, pod.ResourceVersion, podColumns, []object{pod}, s.clock.Now()))
		return
	}
	api.WriteJSON(w, http.StatusOK, pod)
}

// watchLine is one line of a watch stream (metav1.WatchEvent's shape).
type watchLine struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

// watchPods streams the selected pods' changes. From resourceVersion ""
// or "0" it starts with every pod as ADDED; from a list's version, with
// what changed since that list; with sendInitialEvents=true, every pod and
// then a BOOKMARK marking the end of the initial events. A pod that stops
// matching the selectors is DELETED for the watcher, one that starts
// matching ADDED, as the apiserver does.
func (s *Server) watchPods(w http.ResponseWriter, r *http.Request, q podQuery) {
	f, err := negotiate(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	query := r.URL.Query()
	ctx := r.Context()
	if t := query.Get("timeoutSeconds"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			api.WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", t)))
			return
		}
		if n > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(n)*time.Second)
			defer cancel()
		}
	}
	initial := query.Get("sendInitialEvents") == "true"
	var base map[string]v1.Pod
	if rv := query.Get("resourceVersion"); !initial && rv != "" && rv != "0" {
		var ok bool
		if base, ok = s.snaps.get(rv); !ok {
			api.WriteError(w, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %s", rv)))
			return
		}
	}
	ns := r.PathValue("ns")
	ch, err := s.b.WatchPods(ctx, ns) // subscribe before listing: nothing falls between
	if err != nil {
		api.WriteError(w, err)
		return
	}
	pods, err := s.matchingPods(ctx, ns, q)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	ws := newWatchStream(w, f, podColumns, s.clock)
	sent := map[types.UID]bool{}
	for i := range pods {
		p := &pods[i]
		sent[p.UID] = true
		typ := "ADDED"
		if old, ok := base[podKey(p)]; ok {
			delete(base, podKey(p))
			if old.ResourceVersion == p.ResourceVersion {
				continue
			}
			typ = "MODIFIED"
		}
		if !ws.send(typ, p) {
			return
		}
	}
	for _, old := range base {
		if !ws.send("DELETED", &old) {
			return
		}
	}
	if initial {
		mark := &v1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{
			ResourceVersion: s.snaps.add(pods), Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}
		if !ws.sendRaw("BOOKMARK", mark) {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			p := s.servePod(&ev.Pod)
			typ, match := ev.Type, q.matches(p)
			switch {
			case typ == "DELETED" && !sent[p.UID], typ != "DELETED" && !match && !sent[p.UID]:
				continue
			case typ != "DELETED" && !match:
				typ = "DELETED"
			case typ != "DELETED" && !sent[p.UID]:
				typ = "ADDED"
			}
			sent[p.UID] = typ != "DELETED"
			if !ws.send(typ, p) {
				return
			}
		}
	}
}
