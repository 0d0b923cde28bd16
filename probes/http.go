package probes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
)

// probeHTTP GETs the probe's URL from the pod's network namespace. 200–399
// is success; a redirect to another host is not followed and counts as
// success with a warning; anything else, and any transport error, fails.
func probeHTTP(ctx context.Context, nsPath, host string, port int, a *v1.HTTPGetAction, timeout time.Duration) (outcome, string, error) {
	req, err := newHTTPRequest(ctx, host, port, a)
	if err != nil {
		return 0, "", err
	}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dial(ctx, nsPath, network, addr)
		},
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives:  true,
		DisableCompression: true,
		Proxy:              nil,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: timeout, CheckRedirect: sameHostRedirects}

	res, err := client.Do(req)
	if err != nil {
		return outcomeFailure, err.Error(), nil // timeouts and refused connections are failures
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		return outcomeFailure, "", err
	}
	if res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest {
		if res.StatusCode >= http.StatusMultipleChoices {
			return outcomeWarning, fmt.Sprintf("Probe terminated redirects, Response body: %v", string(body)), nil
		}
		return outcomeSuccess, string(body), nil
	}
	// Like the kubelet, never show the response body in a failure.
	return outcomeFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

// sameHostRedirects follows redirects only to the host of the original
// request (any port), at most 10 of them.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

func newHTTPRequest(ctx context.Context, host string, port int, a *v1.HTTPGetAction) (*http.Request, error) {
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u, err := url.Parse(a.Path)
	if err != nil {
		u = &url.URL{Path: a.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	if u.Path == "" {
		u.Path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for _, hv := range a.HTTPHeaders {
		h.Add(hv.Name, hv.Value)
	}
	if _, ok := h["User-Agent"]; !ok {
		h.Set("User-Agent", userAgent)
	}
	if _, ok := h["Accept"]; !ok {
		h.Set("Accept", "*/*")
	} else if h.Get("Accept") == "" {
		h.Del("Accept")
	}
	req.Header = h
	if v := h.Get("Host"); v != "" {
		req.Host = v
	}
	return req, nil
}
