package kubeapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
)

func isWatch(r *http.Request) bool {
	w := r.URL.Query().Get("watch")
	return w == "true" || w == "1"
}

// watchStream writes watch events, one JSON object a line, each flushed;
// in the Table format each object is a Table of one row.
type watchStream struct {
	w     http.ResponseWriter
	enc   *json.Encoder
	f     format
	cols  []metav1.TableColumnDefinition
	clock clock.PassiveClock
}

func newWatchStream(w http.ResponseWriter, f format, cols []metav1.TableColumnDefinition, c clock.PassiveClock) *watchStream {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	return &watchStream{w: w, enc: json.NewEncoder(w), f: f, cols: cols, clock: c}
}

// send writes one event of o; false: the client is gone.
func (ws *watchStream) send(typ string, o object) bool {
	if ws.f.table {
		return ws.sendRaw(typ, tableOf(ws.f, metaOf(o).ResourceVersion, ws.cols, []object{o}, ws.clock.Now()))
	}
	return ws.sendRaw(typ, o)
}

// sendRaw writes one event of v as it is.
func (ws *watchStream) sendRaw(typ string, v any) bool {
	if err := ws.enc.Encode(watchLine{Type: typ, Object: v}); err != nil {
		return false
	}
	if fl, ok := ws.w.(http.Flusher); ok {
		fl.Flush()
	}
	return true
}

// snapshotsKept is how many list results a watch can start from.
const snapshotsKept = 256

// snapshots remembers what recent lists returned (by key: a pod's UID,
// an event's namespace/name), under the
// resourceVersion each list carried, so a watch from that version sends
// only what changed since.
type snapshots[T any] struct {
	mu    sync.Mutex
	next  uint64
	max   int
	key   func(*T) string
	order []uint64
	byRV  map[uint64]map[string]T
}

// newSnapshots numbers versions from first: give each agent run its own
// range (a time), so a version from an earlier run is never mistaken.
func newSnapshots[T any](max int, first uint64, key func(*T) string) *snapshots[T] {
	return &snapshots[T]{max: max, byRV: map[uint64]map[string]T{}, next: first, key: key}
}

// add keeps items and returns the version naming them.
func (s *snapshots[T]) add(items []T) string {
	m := make(map[string]T, len(items))
	for i := range items {
		m[s.key(&items[i])] = items[i]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rv := s.next
	s.next++
	s.byRV[rv] = m
	s.order = append(s.order, rv)
	if len(s.order) > s.max {
		delete(s.byRV, s.order[0])
		s.order = s.order[1:]
	}
	return strconv.FormatUint(rv, 10)
}

// get returns a copy of the items listed under rv.
func (s *snapshots[T]) get(rv string) (map[string]T, bool) {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.byRV[n]
	if !ok {
		return nil, false
	}
	out := make(map[string]T, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, true
}
