package kubeletserver

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
)

func TestRequestAttributes(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		verb         string
		subs         []string
	}{
		{"GET", "/healthz", "get", []string{"healthz", "proxy"}},
		{"GET", "/healthz/ping", "get", []string{"healthz", "proxy"}},
		{"GET", "/pods", "get", []string{"pods", "proxy"}},
		{"GET", "/pods/", "get", []string{"pods", "proxy"}},
		{"GET", "/podsx", "get", []string{"proxy"}},
		{"GET", "/runningpods/", "get", []string{"pods", "proxy"}},
		{"GET", "/configz", "get", []string{"configz", "proxy"}},
		{"GET", "/stats/summary", "get", []string{"stats"}},
		{"GET", "/stats", "get", []string{"stats"}},
		{"GET", "/statsx", "get", []string{"proxy"}},
		{"GET", "/metrics", "get", []string{"metrics"}},
		{"GET", "/metrics/resource", "get", []string{"metrics"}},
		{"GET", "/metrics/cadvisor", "get", []string{"metrics"}},
		{"GET", "/logs/syslog", "get", []string{"log"}},
		{"POST", "/checkpoint/ns/pod/c", "create", []string{"checkpoint"}},
		{"GET", "/flagz", "get", []string{"configz"}},
		{"GET", "/statusz", "get", []string{"statusz"}},
		{"GET", "/containerLogs/ns/pod/c", "get", []string{"proxy"}},
		{"POST", "/exec/ns/pod/c", "create", []string{"proxy"}},
		{"GET", "/exec/ns/pod/c", "get", []string{"proxy"}},
		{"POST", "/attach/ns/pod/c", "create", []string{"proxy"}},
		{"POST", "/portForward/ns/pod", "create", []string{"proxy"}},
		{"PUT", "/x", "update", []string{"proxy"}},
		{"PATCH", "/x", "patch", []string{"proxy"}},
		{"DELETE", "/x", "delete", []string{"proxy"}},
		{"HEAD", "/x", "", []string{"proxy"}},
	} {
		got := RequestAttributes(tc.method, tc.path, "n1")
		var subs []string
		for _, a := range got {
			subs = append(subs, a.Subresource)
			if a.Verb != tc.verb || a.Name != "n1" {
				t.Errorf("%s %s: %+v, want verb %q name n1", tc.method, tc.path, a, tc.verb)
			}
		}
		if !reflect.DeepEqual(subs, tc.subs) {
			t.Errorf("%s %s: subresources %v, want %v", tc.method, tc.path, subs, tc.subs)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		h, want string
		ok      bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"Bearer a b", "", false},
		{"", "", false},
	} {
		got, ok := bearerToken(tc.h)
		if got != tc.want || ok != tc.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tc.h, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAuthentication(t *testing.T) {
	ts := startServer(t, nil)
	ts.rv.tokens["good"] = authenticationv1.UserInfo{Username: "system:serviceaccount:ns:sa", UID: "u1", Groups: []string{"system:serviceaccounts"},
		Extra: map[string]authenticationv1.ExtraValue{"k": {"v"}}}
	ts.rv.allow = func(s authorizationv1.SubjectAccessReviewSpec) bool {
		return s.User == "kube-apiserver-kubelet-client" || s.User == "system:serviceaccount:ns:sa"
	}
	url := ts.srv.URL + "/healthz"
	anon := ts.httpClient(t, nil, nil)

	if code, body := get(t, anon, "GET", url, ""); code != http.StatusUnauthorized || strings.TrimSpace(body) != "Unauthorized" {
		t.Errorf("no credentials: %d %q, want 401 Unauthorized", code, body)
	}
	if code, _ := get(t, anon, "GET", url, "bad"); code != http.StatusUnauthorized {
		t.Errorf("unknown token: %d, want 401", code)
	}
	if code, body := get(t, anon, "GET", url, "good"); code != http.StatusOK || body != "ok" {
		t.Errorf("valid token: %d %q, want 200 ok", code, body)
	}
	sars := ts.rv.sars()
	want := authorizationv1.SubjectAccessReviewSpec{User: "system:serviceaccount:ns:sa", UID: "u1", Groups: []string{"system:serviceaccounts"},
		Extra:              map[string]authorizationv1.ExtraValue{"k": {"v"}},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Version: "v1", Resource: "nodes", Subresource: "healthz", Name: "node1"}}
	if len(sars) != 1 || !reflect.DeepEqual(sars[0], want) {
		t.Errorf("SubjectAccessReviews %+v, want one %+v", sars, want)
	}

	// A client certificate of the client CA: CN the user, O the groups.
	certPEM, keyPEM := ts.ca.client(t, "kube-apiserver-kubelet-client", "g1", "g2")
	withCert := ts.httpClient(t, certPEM, keyPEM)
	if code, body := get(t, withCert, "GET", url, ""); code != http.StatusOK {
		t.Errorf("client certificate: %d %q, want 200", code, body)
	}
	sars = ts.rv.sars()
	if last := sars[len(sars)-1]; last.User != "kube-apiserver-kubelet-client" || !reflect.DeepEqual(last.Groups, []string{"g1", "g2"}) {
		t.Errorf("certificate user in SubjectAccessReview = %q %v", last.User, last.Groups)
	}
	// A certificate wins over a token (as in kube-apiserver's union).
	if code, _ := get(t, withCert, "GET", url, "bad"); code != http.StatusOK {
		t.Errorf("client certificate with a bad token: %d, want 200", code)
	}

	// One of another CA is not a user (401), as with kubelet; a token
	// beside it still counts.
	otherPEM, otherKey := newTestCA(t).client(t, "kube-apiserver-kubelet-client")
	other := ts.httpClient(t, otherPEM, otherKey)
	if code, _ := get(t, other, "GET", url, ""); code != http.StatusUnauthorized {
		t.Errorf("certificate of another CA: %d, want 401", code)
	}
	if code, _ := get(t, other, "GET", url, "good"); code != http.StatusOK {
		t.Errorf("certificate of another CA with a valid token: %d, want 200", code)
	}
	// An expired one neither.
	ts.clock.Step(2 * time.Hour)
	if code, _ := get(t, withCert, "GET", url, ""); code != http.StatusUnauthorized {
		t.Errorf("expired certificate: %d, want 401", code)
	}
}

func TestAuthorization(t *testing.T) {
	ts := startServer(t, nil)
	ts.rv.tokens["t"] = authenticationv1.UserInfo{Username: "alice"}
	var allowSub string
	ts.rv.allow = func(s authorizationv1.SubjectAccessReviewSpec) bool {
		return s.ResourceAttributes.Subresource == allowSub
	}
	c := ts.httpClient(t, nil, nil)

	// Denied: 403 with kubelet's message listing the subresources asked.
	code, body := get(t, c, "GET", ts.srv.URL+"/pods", "t")
	if code != http.StatusForbidden || !strings.Contains(body, "Forbidden (user=alice, verb=get, resource=nodes, subresource(s)=[pods proxy])") {
		t.Errorf("denied: %d %q", code, body)
	}
	// nodes/proxy covers /pods too (the fallback).
	allowSub = "proxy"
	ts.clock.Step(DefaultDeniedTTL) // the denials expire
	if code, body := get(t, c, "GET", ts.srv.URL+"/pods", "t"); code != http.StatusOK {
		t.Errorf("proxy fallback: %d %q", code, body)
	}
	// ... but not /stats, which asks for nodes/stats only.
	if code, body := get(t, c, "GET", ts.srv.URL+"/stats/summary", "t"); code != http.StatusForbidden || !strings.Contains(body, "subresource(s)=[stats]") {
		t.Errorf("stats with proxy only: %d %q", code, body)
	}
	// A failed review is 500 and not cached.
	ts.rv.mu.Lock()
	ts.rv.sarErr = errors.New("apiserver down")
	ts.rv.mu.Unlock()
	if code, body := get(t, c, "GET", ts.srv.URL+"/metrics", "t"); code != http.StatusInternalServerError || !strings.Contains(body, "Authorization error (user=alice, verb=get, resource=nodes, subresource=metrics)") {
		t.Errorf("review error: %d %q", code, body)
	}
}

func TestReviewCaching(t *testing.T) {
	ts := startServer(t, nil)
	ts.rv.tokens["t"] = authenticationv1.UserInfo{Username: "alice"}
	ts.rv.allow = func(s authorizationv1.SubjectAccessReviewSpec) bool {
		return s.ResourceAttributes.Subresource != "metrics"
	}
	c := ts.httpClient(t, nil, nil)
	check := func(what string, path string, wantCode int, tokens, sars int32) {
		t.Helper()
		if code, body := get(t, c, "GET", ts.srv.URL+path, "t"); code != wantCode {
			t.Errorf("%s: %d %q, want %d", what, code, body, wantCode)
		}
		if n, m := ts.rv.tokenN.Load(), ts.rv.sarN.Load(); n != tokens || m != sars {
			t.Errorf("%s: %d token reviews, %d access reviews; want %d, %d", what, n, m, tokens, sars)
		}
	}
	check("first", "/healthz", 200, 1, 1)
	check("cached", "/healthz", 200, 1, 1)
	check("denied", "/metrics", 403, 1, 2)
	check("denial cached", "/metrics", 403, 1, 2)
	ts.clock.Step(DefaultDeniedTTL)
	check("denial expired", "/metrics", 403, 1, 3)
	ts.clock.Step(DefaultTokenCacheTTL - DefaultDeniedTTL)
	check("token expired, allowed still cached", "/healthz", 200, 2, 3)
	ts.clock.Step(DefaultAllowedTTL)
	check("both expired", "/healthz", 200, 3, 4)
	// An unknown token is cached as not authenticated.
	before := ts.rv.tokenN.Load()
	get(t, c, "GET", ts.srv.URL+"/healthz", "nope")
	get(t, c, "GET", ts.srv.URL+"/healthz", "nope")
	if n := ts.rv.tokenN.Load() - before; n != 1 {
		t.Errorf("unknown token reviewed %d times, want 1", n)
	}
}

func TestTTLCache(t *testing.T) {
	ts := startServer(t, nil)
	c := newTTLCache[int](ts.clock, 3)
	c.put("a", 1, time.Second)
	c.put("b", 2, time.Minute)
	c.put("z", 0, 0) // not stored
	if v, ok := c.get("a"); !ok || v != 1 {
		t.Errorf("get a = %d, %v", v, ok)
	}
	if _, ok := c.get("z"); ok {
		t.Error("ttl 0 was stored")
	}
	ts.clock.Step(time.Second)
	if _, ok := c.get("a"); ok {
		t.Error("a did not expire")
	}
	c.put("c", 3, time.Minute)
	c.put("d", 4, time.Minute)
	c.put("e", 5, time.Minute) // full: one of b, c, d goes
	if n := c.len(); n != 3 {
		t.Errorf("len %d, want at most 3", n)
	}
	if v, ok := c.get("e"); !ok || v != 5 {
		t.Errorf("newest entry missing: %d %v", v, ok)
	}
}

func TestNoClientCA(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.TLS.ClientCAFile = "" })
	ts.rv.allow = func(authorizationv1.SubjectAccessReviewSpec) bool { return true }
	c, k := ts.ca.client(t, "admin")
	if code, _ := get(t, ts.httpClient(t, c, k), "GET", ts.srv.URL+"/healthz", ""); code != http.StatusUnauthorized {
		t.Errorf("client certificate without --client-ca-file: %d, want 401", code)
	}
}
