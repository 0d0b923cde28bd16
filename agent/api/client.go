package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Client talks to a miniagent Server over its unix socket. It implements
// Backend, so whatever the agent can do the CLI can ask for. Errors from the
// server are *apierrors.StatusError carrying the server's metav1.Status.
type Client struct {
	socket string
	hc     *http.Client
}

var _ Backend = (*Client)(nil)

// UnreachableError means nothing answers on the socket.
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach miniagent at %s: is the daemon running?", e.Socket)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// NewClient returns a client for the server listening on socketPath.
func NewClient(socketPath string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		DisableCompression: true,
	}
	return &Client{socket: socketPath, hc: &http.Client{Transport: tr}}
}

// SocketPath is the socket the client talks to.
func (c *Client) SocketPath() string { return c.socket }

// do sends one request and returns the response if its status is 2xx; the
// caller closes the body. Other statuses become the server's error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	u := "http://miniagent" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, &UnreachableError{Socket: c.socket, Err: err}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("talk to miniagent at %s: %w", c.socket, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, errorFromBody(resp.StatusCode, data)
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, method, path string, query url.Values, body, out any) (*http.Response, error) {
	resp, err := c.do(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return nil, fmt.Errorf("decode %s %s response: %w", method, path, err)
	}
	return resp, nil
}

func podsPath(ns string) string {
	if ns == "" {
		return "/api/v1/pods"
	}
	return "/api/v1/namespaces/" + url.PathEscape(ns) + "/pods"
}

func podPath(ns, name string) string { return podsPath(ns) + "/" + url.PathEscape(name) }

// Apply sends pod (POST: the server creates or replaces) and returns the
// stored pod and what happened: ApplyCreated, ApplyConfigured or ApplyUnchanged.
func (c *Client) Apply(ctx context.Context, pod *v1.Pod) (*v1.Pod, string, error) {
	return c.apply(ctx, pod, false)
}

// ApplyForce is Apply, but a change the pod cannot take in place deletes
// and re-creates it (apply --force).
func (c *Client) ApplyForce(ctx context.Context, pod *v1.Pod) (*v1.Pod, string, error) {
	return c.apply(ctx, pod, true)
}

func (c *Client) apply(ctx context.Context, pod *v1.Pod, force bool) (*v1.Pod, string, error) {
	ns := pod.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	var q url.Values
	if force {
		q = url.Values{"force": {"true"}}
	}
	var stored v1.Pod
	resp, err := c.getJSON(ctx, http.MethodPost, podsPath(ns), q, pod, &stored)
	if err != nil {
		return nil, "", err
	}
	result := resp.Header.Get(ApplyResultHeader)
	if result == "" {
		result = ApplyConfigured
		if resp.StatusCode == http.StatusCreated {
			result = ApplyCreated
		}
	}
	return &stored, result, nil
}

// ApplyPod is Apply in the Backend's shape.
func (c *Client) ApplyPod(ctx context.Context, pod *v1.Pod) (*v1.Pod, bool, error) {
	stored, result, err := c.Apply(ctx, pod)
	return stored, result == ApplyCreated, err
}

// ReplacePod is ApplyForce in the Backend's shape.
func (c *Client) ReplacePod(ctx context.Context, pod *v1.Pod) (*v1.Pod, bool, error) {
	stored, result, err := c.ApplyForce(ctx, pod)
	return stored, result == ApplyCreated, err
}

// DeletePod asks the server to delete a pod; gracePeriod nil = the pod's own.
func (c *Client) DeletePod(ctx context.Context, namespace, name string, gracePeriod *int64, wait bool) (*v1.Pod, error) {
	q := url.Values{"wait": {strconv.FormatBool(wait)}}
	opts := &metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}, GracePeriodSeconds: gracePeriod}
	var pod v1.Pod
	if _, err := c.getJSON(ctx, http.MethodDelete, podPath(namespace, name), q, opts, &pod); err != nil {
		return nil, err
	}
	return &pod, nil
}

// GetPod returns one pod with its status.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*v1.Pod, error) {
	var pod v1.Pod
	if _, err := c.getJSON(ctx, http.MethodGet, podPath(namespace, name), nil, nil, &pod); err != nil {
		return nil, err
	}
	return &pod, nil
}

// ListPods returns the pods of namespace, or of all namespaces if it is "".
func (c *Client) ListPods(ctx context.Context, namespace string) ([]v1.Pod, error) {
	var list v1.PodList
	if _, err := c.getJSON(ctx, http.MethodGet, podsPath(namespace), nil, nil, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// WatchPods streams the pods of namespace ("" = all): first every existing
// pod as ADDED, then each change. The channel closes when ctx ends or the
// server ends the stream.
func (c *Client) WatchPods(ctx context.Context, namespace string) (<-chan WatchEvent, error) {
	return c.watch(ctx, podsPath(namespace))
}

// WatchPod is WatchPods for one pod.
func (c *Client) WatchPod(ctx context.Context, namespace, name string) (<-chan WatchEvent, error) {
	return c.watch(ctx, podPath(namespace, name))
}

func (c *Client) watch(ctx context.Context, path string) (<-chan WatchEvent, error) {
	resp, err := c.do(ctx, http.MethodGet, path, url.Values{"watch": {"true"}}, nil)
	if err != nil {
		return nil, err
	}
	return decodeWatch(ctx, resp.Body, func(line []byte) (WatchEvent, bool) {
		var ev wireEvent
		if err := json.Unmarshal(line, &ev); err != nil || ev.Object == nil {
			return WatchEvent{}, false
		}
		return WatchEvent{Type: ev.Type, Pod: *ev.Object}, true
	}), nil
}

// decodeWatch sends the values decode makes of a watch stream's lines (one
// JSON event a line; lines it refuses are skipped) until the stream or ctx
// ends, then closes the channel and the body.
func decodeWatch[T any](ctx context.Context, body io.ReadCloser, decode func([]byte) (T, bool)) <-chan T {
	ch := make(chan T)
	go func() {
		defer close(ch)
		defer body.Close()
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 64<<10), maxBodyBytes)
		for sc.Scan() {
			v, ok := decode(sc.Bytes())
			if !ok {
				continue
			}
			select {
			case ch <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// PodLogs copies a container's log to w.
func (c *Client) PodLogs(ctx context.Context, namespace, name string, opts LogOptions, w io.Writer) error {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	for key, v := range map[string]bool{"previous": opts.Previous, "follow": opts.Follow, "timestamps": opts.Timestamps} {
		if v {
			q.Set(key, "true")
		}
	}
	if opts.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*opts.SinceSeconds, 10))
	}
	if opts.SinceTime != nil {
		q.Set("sinceTime", opts.SinceTime.UTC().Format(time.RFC3339))
	}
	if opts.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*opts.LimitBytes, 10))
	}
	resp, err := c.do(ctx, http.MethodGet, podPath(namespace, name)+"/log", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read log of pod %q: %w", name, err)
	}
	return nil
}

// PodEvents returns the events of one pod.
func (c *Client) PodEvents(ctx context.Context, namespace, name string) ([]v1.Event, error) {
	q := url.Values{"fieldSelector": {"involvedObject.name=" + name}}
	var list v1.EventList
	path := "/api/v1/namespaces/" + url.PathEscape(namespace) + "/events"
	if _, err := c.getJSON(ctx, http.MethodGet, path, q, nil, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func eventsPath(ns string) string {
	if ns == "" {
		return "/api/v1/events"
	}
	return "/api/v1/namespaces/" + url.PathEscape(ns) + "/events"
}

// ListEvents returns the events of namespace ("" = all) that fieldSelector
// (kubectl's form, e.g. involvedObject.name=web; "" = all) selects.
func (c *Client) ListEvents(ctx context.Context, namespace, fieldSelector string) ([]v1.Event, error) {
	q := url.Values{}
	if fieldSelector != "" {
		q.Set("fieldSelector", fieldSelector)
	}
	var list v1.EventList
	if _, err := c.getJSON(ctx, http.MethodGet, eventsPath(namespace), q, nil, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// WatchEventList streams the selected events: the existing ones as ADDED,
// then each new or updated one, until ctx ends or the server ends the stream.
func (c *Client) WatchEventList(ctx context.Context, namespace, fieldSelector string) (<-chan EventWatchEvent, error) {
	q := url.Values{"watch": {"true"}}
	if fieldSelector != "" {
		q.Set("fieldSelector", fieldSelector)
	}
	resp, err := c.do(ctx, http.MethodGet, eventsPath(namespace), q, nil)
	if err != nil {
		return nil, err
	}
	return decodeWatch(ctx, resp.Body, func(line []byte) (EventWatchEvent, bool) {
		var ev eventWire
		if err := json.Unmarshal(line, &ev); err != nil || ev.Object == nil {
			return EventWatchEvent{}, false
		}
		return EventWatchEvent{Type: ev.Type, Event: *ev.Object}, true
	}), nil
}

// WatchEvents implements Backend: every event of namespace.
func (c *Client) WatchEvents(ctx context.Context, namespace string) (<-chan EventWatchEvent, error) {
	return c.WatchEventList(ctx, namespace, "")
}

// Node returns the agent's node.
func (c *Client) Node(ctx context.Context) (*v1.Node, error) {
	var list v1.NodeList
	if _, err := c.getJSON(ctx, http.MethodGet, "/api/v1/nodes", nil, nil, &list); err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("miniagent at %s reports no node", c.socket)
	}
	return &list.Items[0], nil
}

// GetNode returns the node called name (NotFound if that is not the agent's node).
func (c *Client) GetNode(ctx context.Context, name string) (*v1.Node, error) {
	var node v1.Node
	if _, err := c.getJSON(ctx, http.MethodGet, "/api/v1/nodes/"+url.PathEscape(name), nil, nil, &node); err != nil {
		return nil, err
	}
	return &node, nil
}
