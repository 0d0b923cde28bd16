package kubeletserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/utils/clock"
)

// Attributes is one authorisation question about the node object, as
// kubelet asks it: verb on nodes/<subresource> named after the node.
type Attributes struct {
	Verb        string
	Subresource string
	Name        string
}

// Verb is the API verb kubelet uses for an HTTP method ("" for others).
func Verb(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodGet:
		return "get"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return ""
}

// RequestAttributes are the questions kubelet asks for a request, in
// order; the request is allowed when any of them is. The fine-grained
// subresources of /pods, /healthz and /configz (GA since Kubernetes
// 1.36) fall back to proxy; /stats, /metrics, /logs, /checkpoint,
// /statusz and /flagz have their own subresource; everything else,
// /containerLogs, /exec, /attach and /portForward included, is proxy.
func RequestAttributes(method, path, node string) []Attributes {
	var subs []string
	switch {
	case isSubpath(path, "/allocatedPods"), isSubpath(path, "/pods"), isSubpath(path, "/runningpods/"):
		subs = append(subs, "pods")
	case isSubpath(path, "/healthz"):
		subs = append(subs, "healthz")
	case isSubpath(path, "/configz"):
		subs = append(subs, "configz")
	}
	switch {
	case isSubpath(path, "/stats/"):
		subs = append(subs, "stats")
	case isSubpath(path, "/metrics"):
		subs = append(subs, "metrics")
	case isSubpath(path, "/logs/"):
		subs = append(subs, "log")
	case isSubpath(path, "/checkpoint/"):
		subs = append(subs, "checkpoint")
	case isSubpath(path, "/statusz"):
		subs = append(subs, "statusz")
	case isSubpath(path, "/flagz"):
		subs = append(subs, "configz")
	default:
		subs = append(subs, "proxy")
	}
	out := make([]Attributes, len(subs))
	for i, s := range subs {
		out[i] = Attributes{Verb: Verb(method), Subresource: s, Name: node}
	}
	return out
}

// isSubpath: path is root or below it ("/stats/" covers "/stats" and
// "/stats/summary", not "/statsx").
func isSubpath(path, root string) bool {
	root = strings.TrimSuffix(root, "/")
	return path == root || strings.HasPrefix(path, root) && path[len(root)] == '/'
}

// authorizer asks the apiserver with SubjectAccessReviews and caches the
// answers.
type authorizer struct {
	sar                   authorizationclient.SubjectAccessReviewInterface
	cache                 *ttlCache[bool]
	allowedTTL, deniedTTL time.Duration
}

func newAuthorizer(sar authorizationclient.SubjectAccessReviewInterface, c clock.PassiveClock, allowed, denied time.Duration) *authorizer {
	return &authorizer{sar: sar, cache: newTTLCache[bool](c, cacheEntries), allowedTTL: allowed, deniedTTL: denied}
}

// allowed reports whether u may do a.
func (z *authorizer) allowed(ctx context.Context, u *User, a Attributes) (bool, error) {
	spec := accessReviewSpec(u, a)
	keyData, err := json.Marshal(spec)
	if err != nil {
		return false, err
	}
	key := string(keyData)
	if ok, hit := z.cache.get(key); hit {
		return ok, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := z.sar.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("subject access review: %w", err)
	}
	ok := res.Status.Allowed && !res.Status.Denied
	ttl := z.deniedTTL
	if ok {
		ttl = z.allowedTTL
	}
	z.cache.put(key, ok, ttl)
	return ok, nil
}

// accessReviewSpec is the SubjectAccessReview for u doing a.
func accessReviewSpec(u *User, a Attributes) authorizationv1.SubjectAccessReviewSpec {
	spec := authorizationv1.SubjectAccessReviewSpec{
		User: u.Name, UID: u.UID, Groups: u.Groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.Verb, Group: "", Version: "v1", Resource: "nodes", Subresource: a.Subresource, Name: a.Name,
		},
	}
	if len(u.Extra) > 0 {
		spec.Extra = map[string]authorizationv1.ExtraValue{}
		for k, v := range u.Extra {
			spec.Extra[k] = v
		}
	}
	return spec
}
