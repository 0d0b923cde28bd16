package kubeapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/miniagent/miniagent/agent/api"
)

// callLocal runs the local API's handler for r and decodes its answer
// into out; an error answer is returned as the error it carries.
func (s *Server) callLocal(r *http.Request, out any) error {
	rec := httptest.NewRecorder()
	s.local.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		var st metav1.Status
		if json.Unmarshal(rec.Body.Bytes(), &st) == nil && st.Kind == "Status" {
			return &apierrors.StatusError{ErrStatus: st}
		}
		return apierrors.NewInternalError(fmt.Errorf("local API: %d %s", rec.Code, rec.Body.String()))
	}
	return json.Unmarshal(rec.Body.Bytes(), out)
}

// eventQuery splits off involvedObject.uid, which kubectl describe sends
// and the local API does not select on.
func eventQuery(r *http.Request) (*http.Request, types.UID, error) {
	fs, err := fields.ParseSelector(r.URL.Query().Get("fieldSelector"))
	if err != nil {
		return nil, "", apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	var uid types.UID
	var keep []string
	for _, req := range fs.Requirements() {
		if req.Field == "involvedObject.uid" && req.Operator != "!=" {
			uid = types.UID(req.Value)
			continue
		}
		keep = append(keep, fields.OneTermEqualSelector(req.Field, req.Value).String())
		if req.Operator == "!=" {
			keep[len(keep)-1] = req.Field + "!=" + req.Value
		}
	}
	r2 := r.Clone(r.Context())
	q := r2.URL.Query()
	q.Set("fieldSelector", strings.Join(keep, ","))
	r2.URL.RawQuery = q.Encode()
	r2.RequestURI = r2.URL.RequestURI()
	return r2, uid, nil
}

func serveEvent(e *v1.Event) *v1.Event {
	e.Kind, e.APIVersion = "Event", "v1"
	e.ResourceVersion = ""
	e.ResourceVersion = contentVersion(e)
	return e
}

// listEvents serves the local API's event list and watch, in JSON or as a
// Table, with resourceVersions (a watch from a list's version skips what
// the list had).
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	f, err := negotiate(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	r2, uid, err := eventQuery(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if isWatch(r) {
		s.watchEvents(w, r2, f, uid)
		return
	}
	var list v1.EventList
	if err := s.callLocal(r2, &list); err != nil {
		api.WriteError(w, err)
		return
	}
	items := []v1.Event{}
	for i := range list.Items {
		if uid == "" || list.Items[i].InvolvedObject.UID == uid {
			items = append(items, *serveEvent(&list.Items[i]))
		}
	}
	rv := s.evs.add(items)
	if f.table {
		objs := make([]object, len(items))
		for i := range items {
			objs[i] = &items[i]
		}
		api.WriteJSON(w, http.StatusOK, tableOf(f, rv, eventColumns, objs, s.clock.Now()))
		return
	}
	list.Items, list.ResourceVersion = items, rv
	api.WriteJSON(w, http.StatusOK, &list)
}

func (s *Server) watchEvents(w http.ResponseWriter, r *http.Request, f format, uid types.UID) {
	var seen map[string]v1.Event
	if rv := r.URL.Query().Get("resourceVersion"); rv != "" && rv != "0" {
		var ok bool
		if seen, ok = s.evs.get(rv); !ok {
			api.WriteError(w, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %s", rv)))
			return
		}
	}
	lw := &lineWriter{dst: w, header: http.Header{}}
	lw.start = func() *watchStream { return newWatchStream(w, f, eventColumns, s.clock) }
	lw.onLine = func(line []byte) bool {
		var ev struct {
			Type   string   `json:"type"`
			Object v1.Event `json:"object"`
		}
		if json.Unmarshal(line, &ev) != nil {
			return false
		}
		e := serveEvent(&ev.Object)
		if uid != "" && e.InvolvedObject.UID != uid {
			return true
		}
		if old, ok := seen[eventKey(e)]; ok && old.ResourceVersion == e.ResourceVersion {
			return true // the list had it
		}
		return lw.stream().send(ev.Type, e)
	}
	s.local.ServeHTTP(lw, r)
}

// lineWriter is the ResponseWriter of a local watch: it passes an error
// answer through and hands each line of a stream to onLine.
type lineWriter struct {
	dst    http.ResponseWriter
	header http.Header
	code   int
	buf    bytes.Buffer
	onLine func([]byte) bool
	start  func() *watchStream
	ws     *watchStream
	failed bool
}

func (l *lineWriter) Header() http.Header { return l.header }

func (l *lineWriter) WriteHeader(code int) {
	l.code = code
	if code != http.StatusOK {
		for k, v := range l.header {
			l.dst.Header()[k] = v
		}
		l.dst.WriteHeader(code)
	}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	if l.code == 0 {
		l.WriteHeader(http.StatusOK)
	}
	if l.code != http.StatusOK {
		return l.dst.Write(p)
	}
	if l.failed {
		return 0, http.ErrHandlerTimeout
	}
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := append([]byte(nil), l.buf.Next(i+1)...)
		if !l.onLine(line) {
			l.failed = true
			return 0, http.ErrHandlerTimeout
		}
	}
	return len(p), nil
}

// stream is the watch stream to the client, started on first use.
func (l *lineWriter) stream() *watchStream {
	if l.ws == nil {
		l.ws = l.start()
	}
	return l.ws
}

// Flush starts the stream even before its first line.
func (l *lineWriter) Flush() {
	if l.code == http.StatusOK {
		l.stream()
	}
}

func serveNode(n *v1.Node) *v1.Node {
	n.Kind, n.APIVersion = "Node", "v1"
	n.ResourceVersion = ""
	n.ResourceVersion = contentVersion(n)
	return n
}

// noWatch refuses a watch of a resource that does not serve one.
func noWatch(w http.ResponseWriter, r *http.Request, resource string) bool {
	if !isWatch(r) {
		return false
	}
	api.WriteError(w, apierrors.NewMethodNotSupported(v1.Resource(resource), "watch"))
	return true
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	if noWatch(w, r, "nodes") {
		return
	}
	f, err := negotiate(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	_, fs, err := parseSelectors(r, fields.Set{"metadata.name": ""})
	if err != nil {
		api.WriteError(w, err)
		return
	}
	var list v1.NodeList
	if err := s.callLocal(r, &list); err != nil {
		api.WriteError(w, err)
		return
	}
	items := []v1.Node{}
	for i := range list.Items {
		if fs.Matches(fields.Set{"metadata.name": list.Items[i].Name}) {
			items = append(items, *serveNode(&list.Items[i]))
		}
	}
	if f.table {
		objs := make([]object, len(items))
		for i := range items {
			objs[i] = &items[i]
		}
		api.WriteJSON(w, http.StatusOK, tableOf(f, "", nodeColumns, objs, s.clock.Now()))
		return
	}
	list.Items = items
	api.WriteJSON(w, http.StatusOK, &list)
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	f, err := negotiate(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	var n v1.Node
	if err := s.callLocal(r, &n); err != nil {
		api.WriteError(w, err)
		return
	}
	serveNode(&n)
	if f.table {
		api.WriteJSON(w, http.StatusOK, tableOf(f, n.ResourceVersion, nodeColumns, []object{&n}, s.clock.Now()))
		return
	}
	api.WriteJSON(w, http.StatusOK, &n)
}

// patchNode patches the node's labels and taints (kubectl label node,
// taint node) through the Backend's UpdateNode.
func (s *Server) patchNode(w http.ResponseWriter, r *http.Request) {
	if err := refuseDryRun(r); err != nil {
		api.WriteError(w, err)
		return
	}
	data, err := readBody(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	s.write.Lock()
	defer s.write.Unlock()
	node, err := s.b.Node(r.Context())
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if name := r.PathValue("name"); node.Name != name {
		api.WriteError(w, apierrors.NewNotFound(v1.Resource("nodes"), name))
		return
	}
	serveNode(node)
	cur, err := json.Marshal(node)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	ct := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0])
	next, err := patchJSON(types.PatchType(ct), cur, data, v1.Node{})
	if err != nil {
		api.WriteError(w, err)
		return
	}
	var patched v1.Node
	if err := json.Unmarshal(next, &patched); err != nil {
		api.WriteError(w, apierrors.NewBadRequest(fmt.Sprintf("Node in version \"v1\" cannot be handled as a Node: %v", err)))
		return
	}
	if patched.Name != node.Name {
		api.WriteError(w, apierrors.NewBadRequest("the name of a node cannot be changed by a patch"))
		return
	}
	out, err := s.b.UpdateNode(r.Context(), &patched)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, serveNode(out))
}

// namespaces are "default" and those of the pods, Active since the node
// was created (there are no namespace objects on a node).
func (s *Server) namespaces(r *http.Request) ([]v1.Namespace, error) {
	node, err := s.b.Node(r.Context())
	if err != nil {
		return nil, err
	}
	pods, err := s.b.ListPods(r.Context(), "")
	if err != nil {
		return nil, err
	}
	names := map[string]bool{metav1.NamespaceDefault: true}
	for i := range pods {
		names[pods[i].Namespace] = true
	}
	out := make([]v1.Namespace, 0, len(names))
	for n := range names {
		ns := v1.Namespace{
			TypeMeta:   metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: n, CreationTimestamp: node.CreationTimestamp, Labels: map[string]string{"kubernetes.io/metadata.name": n}},
			Status:     v1.NamespaceStatus{Phase: v1.NamespaceActive},
		}
		ns.ResourceVersion = contentVersion(&ns)
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request) {
	if noWatch(w, r, "namespaces") {
		return
	}
	f, err := negotiate(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	items, err := s.namespaces(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	if f.table {
		objs := make([]object, len(items))
		for i := range items {
			objs[i] = &items[i]
		}
		api.WriteJSON(w, http.StatusOK, tableOf(f, "", namespaceColumns, objs, s.clock.Now()))
		return
	}
	api.WriteJSON(w, http.StatusOK, &v1.NamespaceList{TypeMeta: metav1.TypeMeta{Kind: "NamespaceList", APIVersion: "v1"}, Items: items})
}

func (s *Server) getNamespace(w http.ResponseWriter, r *http.Request) {
	f, err := negotiate(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	items, err := s.namespaces(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	for i := range items {
		if items[i].Name == r.PathValue("name") {
			if f.table {
				api.WriteJSON(w, http.StatusOK, tableOf(f, "", namespaceColumns, []object{&items[i]}, s.clock.Now()))
				return
			}
			api.WriteJSON(w, http.StatusOK, &items[i])
			return
		}
	}
	api.WriteError(w, apierrors.NewNotFound(v1.Resource("namespaces"), r.PathValue("name")))
}
