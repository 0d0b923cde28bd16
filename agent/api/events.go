package api

import (
	"context"
	"net/http"
	"sort"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// eventWire is one line of an event watch stream, shaped like metav1.WatchEvent.
type eventWire struct {
	Type   string    `json:"type"`
	Object *v1.Event `json:"object"`
}

// eventQuery is what an event list or watch selects: the fields kubectl's
// --field-selector uses for events (involvedObject.kind, .namespace, .name).
type eventQuery struct {
	ns, name string
	none     bool // the selector can match nothing
}

func parseEventQuery(r *http.Request) (eventQuery, error) {
	q := eventQuery{ns: r.PathValue("ns")}
	fields, err := parseFieldSelector(r.URL.Query().Get("fieldSelector"))
	if err != nil {
		return q, err
	}
	for k, v := range fields {
		switch k {
		case "involvedObject.kind":
			q.none = q.none || v != "Pod"
		case "involvedObject.namespace", "metadata.namespace":
			if q.ns != "" && v != q.ns {
				q.none = true
			}
			q.ns = v
		case "involvedObject.name":
			q.name = v
		default:
			return q, apierrors.NewBadRequest("field label not supported: " + k)
		}
	}
	return q, nil
}

func (q eventQuery) matches(e *v1.Event) bool {
	return !q.none && (q.ns == "" || e.Namespace == q.ns) && (q.name == "" || e.InvolvedObject.Name == q.name)
}

// listEvents serves GET .../events: the pods' events, oldest first, or with
// watch=true the same as ADDED lines followed by every new or updated event.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseEventQuery(r)
	if err != nil {
		WriteError(w, err)
		return
	}
	watch, err := boolParam(r, "watch")
	if err != nil {
		WriteError(w, err)
		return
	}
	var ch <-chan EventWatchEvent
	if watch {
		// Subscribe before listing: nothing falls between the two.
		if ch, err = s.b.WatchEvents(r.Context(), q.ns); err != nil {
			WriteError(w, err)
			return
		}
	}
	items, err := s.events(r.Context(), q)
	if err != nil {
		WriteError(w, err)
		return
	}
	if !watch {
		WriteJSON(w, http.StatusOK, &v1.EventList{TypeMeta: metav1.TypeMeta{Kind: "EventList", APIVersion: "v1"}, Items: items})
		return
	}
	serveWatch(r.Context(), w, items, ch, func(ev EventWatchEvent) (string, v1.Event) { return ev.Type, ev.Event },
		func(e *v1.Event) string { return e.Namespace + "/" + e.Name },
		func(typ string, e v1.Event) (any, bool) {
			if !q.matches(&e) {
				return nil, false
			}
			e.Kind, e.APIVersion = "Event", "v1"
			return eventWire{Type: typ, Object: &e}, true
		})
}

// events collects the events q selects, oldest first.
func (s *Server) events(ctx context.Context, q eventQuery) ([]v1.Event, error) {
	items := []v1.Event{}
	if q.none {
		return items, nil
	}
	var targets []v1.Pod
	var err error
	if q.name != "" && q.ns != "" {
		targets = []v1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: q.ns, Name: q.name}}}
	} else if targets, err = s.b.ListPods(ctx, q.ns); err != nil {
		return nil, err
	}
	for _, p := range targets {
		if q.name != "" && p.Name != q.name {
			continue
		}
		evs, err := s.b.PodEvents(ctx, p.Namespace, p.Name)
		if apierrors.IsNotFound(err) {
			continue // events of a pod that is gone: none
		}
		if err != nil {
			return nil, err
		}
		items = append(items, evs...)
	}
	if len(targets) > 1 {
		sort.SliceStable(items, func(i, j int) bool { return eventTime(&items[i]).Before(eventTime(&items[j])) })
	}
	for i := range items {
		items[i].Kind, items[i].APIVersion = "Event", "v1"
	}
	return items, nil
}

func eventTime(e *v1.Event) *metav1.Time {
	if !e.FirstTimestamp.IsZero() {
		return &e.FirstTimestamp
	}
	return &metav1.Time{Time: e.EventTime.Time}
}
