package probes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
)

// preparedGet is a probe's first request, built once: the request and its
// bytes on the wire. Every run of the probe sends the same request.
type preparedGet struct {
	host string
	port int
	req  *http.Request // its context is not used: roundTrip is given one
	wire []byte
	err  error // the request could not be built: the probe errs
	bad  error // its header is invalid: the probe fails with this
}

func prepareGet(host string, port int, a *v1.HTTPGetAction) *preparedGet {
	pg := &preparedGet{host: host, port: port}
	pg.req, pg.err = newHTTPRequest(context.Background(), host, port, a)
	if pg.err != nil {
		return pg
	}
	if err := validHeader(pg.req.Header); err != nil {
		pg.bad = (&url.Error{Op: "Get", URL: pg.req.URL.String(), Err: err})
		return pg
	}
	var wire bytes.Buffer
	if pg.req.Write(&wire) == nil { // else roundTrip writes it and fails as before
		pg.wire = wire.Bytes()
	}
	return pg
}

// probeHTTP GETs the probe's URL from the pod's network namespace. 200–399
// is success; a redirect to another host is not followed and counts as
// success with a warning; anything else, and any transport error, fails.
//
// It does what the kubelet's http.Client (DisableKeepAlives, no
// compression, Timeout = timeoutSeconds, same-host redirects only) does on
// the wire, without an http.Transport: one new connection per request,
// written with Request.Write ("Connection: close") and read with
// ReadResponse (or readPlainResponse, which gives the same results for the
// plain answers it takes). timeout bounds the whole probe, redirects
// included.
//
// The request is taken from *cache when it was prepared for the same host
// and port, and prepared there otherwise (cache nil: no caching).
func probeHTTP(ctx context.Context, nsPath string, cache **preparedGet, host string, port int, a *v1.HTTPGetAction, timeout time.Duration) (outcome, string, error) {
	var pg *preparedGet
	if cache != nil {
		pg = *cache
	}
	if pg == nil || pg.host != host || pg.port != port {
		pg = prepareGet(host, port, a)
		if cache != nil {
			*cache = pg
		}
	}
	if pg.err != nil {
		return 0, "", pg.err
	}
	if pg.bad != nil {
		return outcomeFailure, pg.bad.Error(), nil
	}
	// pg.req's own context is not used (see preparedGet): it is sent as it
	// is, without the copy WithContext would make per probe. Neither is a
	// context with the timeout made: its deadline is passed on, and ctx
	// only cancels.
	deadline := time.Now().Add(timeout)
	res, body, err := getFollowingRedirects(ctx, deadline, nsPath, pg.req, pg.wire, nil)
	return httpOutcome(res, body, err, res.bodyErr != nil && timedOut(deadline, res.bodyErr))
}

// httpOutcome is the result of an HTTP probe whose requests ended with res
// and body, or err; bodyTimedOut says that res.bodyErr came from running
// out of time.
func httpOutcome(res response, body []byte, err error, bodyTimedOut bool) (outcome, string, error) {
	if err != nil {
		return outcomeFailure, err.Error(), nil // timeouts and refused connections are failures
	}
	if res.bodyErr != nil {
		if bodyTimedOut {
			res.bodyErr = errors.New("context deadline exceeded (Client.Timeout or context cancellation while reading body)")
		}
		return outcomeFailure, "", res.bodyErr
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

// response is a response whose body (its first maxOutput bytes) was read.
type response struct {
	StatusCode int
	Header     http.Header // nil when read by readPlainResponse: not a redirect
	bodyErr    error       // reading the body failed
}

// getFollowingRedirects sends req and follows redirects the way http.Client
// does for a GET with sameHostRedirects as its CheckRedirect, all before
// deadline; cancelling ctx ends it too. Errors are *url.Error, worded like
// the client's.
//
// wire, if not nil, is req on the wire (prepared once); redirects are
// written out anew. first, if not nil, is the first request's round trip
// already under way (the network loop's, see netloop.go), to finish.
func getFollowingRedirects(ctx context.Context, deadline time.Time, nsPath string, req *http.Request, wire []byte,
	first func() (response, []byte, error)) (response, []byte, error) {
	reqs := []*http.Request{}
	for {
		reqs = append(reqs, req)
		var (
			res  response
			body []byte
			err  error
		)
		if first != nil {
			res, body, err = first()
			first = nil
		} else {
			res, body, err = roundTrip(ctx, deadline, nsPath, req, wire)
		}
		wire = nil
		if err != nil {
			return response{}, nil, tripError(req, err, timedOut(deadline, err))
		}
		loc := res.Header.Get("Location")
		if !isRedirect(res.StatusCode) || loc == "" {
			return res, body, nil
		}
		u, err := req.URL.Parse(loc)
		if err != nil {
			return response{}, nil, &url.Error{Op: "Get", URL: req.URL.String(),
				Err: fmt.Errorf("failed to parse Location header %q: %v", loc, err)}
		}
		next := &http.Request{Method: http.MethodGet, URL: u, Header: reqs[0].Header.Clone(), Close: true}
		if req.Host != "" && req.Host != req.URL.Host {
			// A custom Host header survives a relative redirect.
			if lu, _ := url.Parse(loc); lu != nil && !lu.IsAbs() {
				next.Host = req.Host
			}
		}
		if ref := referer(req.URL, u, next.Header.Get("Referer")); ref != "" {
			next.Header.Set("Referer", ref)
		}
		next = next.WithContext(ctx)
		if err := sameHostRedirects(next, reqs); err != nil {
			if errors.Is(err, http.ErrUseLastResponse) {
				return res, body, nil
			}
			return response{}, nil, &url.Error{Op: "Get", URL: loc, Err: err}
		}
		req = next
	}
}

// tripError is err of a round trip of req as http.Client words it;
// timedOut says it came from running out of time.
func tripError(req *http.Request, err error, timedOut bool) error {
	if timedOut {
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			err = context.DeadlineExceeded
		}
		err = timeoutError(err.Error() + " (Client.Timeout exceeded while awaiting headers)")
	}
	return &url.Error{Op: "Get", URL: req.URL.String(), Err: err}
}

// roundTrip sends req (as wire, if not nil) over a new connection made in
// the namespace at nsPath and reads the response head and up to maxOutput
// bytes of its body, before deadline.
func roundTrip(ctx context.Context, deadline time.Time, nsPath string, req *http.Request, wire []byte) (response, []byte, error) {
	conn, err := dialUntil(ctx, deadline, nsPath, "tcp", hostPort(req.URL))
	if err != nil {
		return response{}, nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	// Cancelling ctx (the worker stops) aborts blocked I/O.
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })()

	if req.URL.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: req.URL.Hostname()})
		if err := tc.HandshakeContext(ctx); err != nil {
			return response{}, nil, err
		}
		conn = tc
	}
	if wire == nil {
		var b bytes.Buffer
		if err := req.Write(&b); err != nil {
			return response{}, nil, err
		}
		wire = b.Bytes()
	}
	if _, err := conn.Write(wire); err != nil {
		return response{}, nil, err
	}
	if rc, ok := conn.(*rawConn); ok {
		rc.expectWait() // the server has yet to see the request
	}
	return readResponse(conn, req)
}

// readResponse reads the response to req from conn: its head and up to
// maxOutput bytes of its body.
func readResponse(conn io.Reader, req *http.Request) (response, []byte, error) {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() { br.Reset(nil); readerPool.Put(br) }() // the body is read below: nothing keeps br
	if _, err := br.Peek(1); err != nil {
		// Peek hands out a read error once; ReadResponse must see it
		// (it would read EOF from a connection that was reset).
		br.Reset(&replayReader{err: err})
	}
	if code, body, err, ok := readPlainResponse(br); ok {
		return response{StatusCode: code, bodyErr: err}, body, nil
	}
	var (
		res *http.Response
		err error
	)
	for informational := 0; ; informational++ {
		if res, err = http.ReadResponse(br, req); err != nil {
			return response{}, nil, err
		}
		// Like the Transport, skip 1xx responses other than 101.
		if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if informational == 4 {
			return response{}, nil, errors.New("net/http: too many 1xx informational responses")
		}
	}
	body, err := readBody(res.Body)
	return response{StatusCode: res.StatusCode, Header: res.Header, bodyErr: err}, body, nil
}

// readerPool keeps the response readers' 4 KiB buffers between probes.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// bodyPool keeps maxOutput-byte buffers for readBody.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, maxOutput); return &b }}

// readBody reads r to its end or to maxOutput bytes, whichever comes
// first, as io.ReadAll of an io.LimitReader would, into a pooled buffer:
// only the bytes read are copied out (ReadAll's growing buffers were a
// seventh of an HTTP probe's allocations). On an error it returns what
// was read before it.
func readBody(r io.Reader) ([]byte, error) {
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	buf := *bp
	n := 0
	var err error
	for n < len(buf) {
		var m int
		m, err = r.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
	}
	if err == io.EOF {
		err = nil
	}
	return bytes.Clone(buf[:n]), err
}

// timedOut tells whether err came from running out of time: the
// connection's deadline (set to the probe's), or the deadline passed.
func timedOut(deadline time.Time, err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || expired(deadline)
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// referer is the Referer http.Client sends on a redirect from last to next.
func referer(last, next *url.URL, explicit string) string {
	if last.Scheme == "https" && next.Scheme == "http" {
		return ""
	}
	if explicit != "" {
		return explicit
	}
	if last.User != nil {
		u := *last
		u.User = nil
		if _, has := last.User.Password(); has {
			u.User = url.UserPassword(last.User.Username(), "***")
		} else {
			u.User = url.User(last.User.Username())
		}
		return u.String()
	}
	return last.String()
}

// hostPort is u's host and port, the scheme's default port if it has none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// validHeader rejects what the Transport rejects: header names that are not
// tokens and values with control characters other than tab.
func validHeader(h http.Header) error {
	for name, values := range h {
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
			return fmt.Errorf("net/http: invalid header field name %q", name)
		}
		for _, v := range values {
			if strings.IndexFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) >= 0 {
				return fmt.Errorf("net/http: invalid header field value for %q", name)
			}
		}
	}
	return nil
}

func isTokenChar(r rune) bool {
	return r < 0x7f && r > ' ' && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
}

// timeoutError is a timeout as http.Client words it.
type timeoutError string

func (e timeoutError) Error() string   { return string(e) }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

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
	req.Close = true // as with DisableKeepAlives: "Connection: close"
	if v := h.Get("Host"); v != "" {
		req.Host = v
	}
	return req, nil
}
