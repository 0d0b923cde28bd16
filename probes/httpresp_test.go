package probes

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// reference reads raw as roundTrip's fallback does: http.ReadResponse, then
// readBody of its body.
func reference(t *testing.T, br *bufio.Reader) (code int, body []byte, bodyErr, err error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://10.0.0.1:8080/healthz", nil)
	res, err := http.ReadResponse(br, req)
	if err != nil {
		return 0, nil, nil, err
	}
	body, bodyErr = readBody(res.Body)
	return res.StatusCode, body, bodyErr, nil
}

// chunks hands out its byte slices one per Read.
type chunks [][]byte

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	if (*c)[0] = (*c)[0][n:]; len((*c)[0]) == 0 {
		*c = (*c)[1:]
	}
	return n, nil
}

// readPlainResponse agrees with http.ReadResponse + readBody on every
// response it reads, and leaves every other one to it untouched.
func TestPlainResponseIsReadResponses(t *testing.T) {
	long := strings.Repeat("x", maxOutput+100)
	for _, tc := range []struct {
		name, raw string
		plain     bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok", true},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", true},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
		{"no headers, body to the end", "HTTP/1.1 200 OK\r\n\r\nall of it", true},
		{"to the end, no length", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\nnot yet", true},
		{"length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true},
		{"length with spaces and zeros", "HTTP/1.1 200 OK\r\ncontent-length:  007 \r\n\r\n1234567trailing", true},
		{"body past the length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", true},
		{"body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", true},
		{"body over maxOutput", "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(long)) + "\r\n\r\n" + long, true},
		{"204 with a length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", true},
		{"304", "HTTP/1.1 304 Not Modified\r\n\r\n", true},
		{"500", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops", true},
		{"tab in a value", "HTTP/1.1 200 OK\r\nX-A: a\tb\r\nContent-Length: 1\r\n\r\nk", true},

		{"redirect", "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n", false},
		{"informational first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk", false},
		{"two equal lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", false},
		{"empty length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nok", false},
		{"folded header", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok", false},
		{"space before colon", "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\nok", false},
		{"no colon", "HTTP/1.1 200 OK\r\nbogus\r\n\r\nok", false},
		{"bad status", "HTTP/1.1 2000 OK\r\n\r\n", false},
		{"two spaces before the status", "HTTP/1.1  200 OK\r\n\r\n", false},
		{"http/2", "HTTP/2 200\r\n\r\n", false},
		{"not http", "SSH-2.0-OpenSSH_9.2\r\n\r\n", false},
		{"utf-8 reason", "HTTP/1.1 200 Gut\u00e4\r\nContent-Length: 2\r\n\r\nok", false},
		{"head not ended", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, bodyErr, err := reference(t, bufio.NewReader(strings.NewReader(tc.raw)))
			br := bufio.NewReaderSize(strings.NewReader(tc.raw), 4096+maxOutput)
			gotCode, gotBody, gotBodyErr, ok := readPlainResponse(br)
			if ok != tc.plain {
				t.Fatalf("read as plain: %v, want %v", ok, tc.plain)
			}
			if !ok {
				gotCode, gotBody, gotBodyErr, gotErr := reference(t, br)
				if gotCode != code || !bytes.Equal(gotBody, body) || !sameErr(gotBodyErr, bodyErr) || !sameErr(gotErr, err) {
					t.Fatalf("ReadResponse after it was left: (%d, %q, %v, %v), want (%d, %q, %v, %v)",
						gotCode, gotBody, gotBodyErr, gotErr, code, body, bodyErr, err)
				}
				return
			}
			if err != nil || gotCode != code || !bytes.Equal(gotBody, body) || !sameErr(gotBodyErr, bodyErr) {
				t.Fatalf("got (%d, %q, %v), ReadResponse (%d, %q, %v, %v)", gotCode, gotBody, gotBodyErr, code, body, bodyErr, err)
			}
		})
	}

	// A head that comes in pieces is left to ReadResponse; a body that
	// comes after a whole head is read on.
	raw := "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
	if _, _, _, ok := readPlainResponse(bufio.NewReader(iotest.OneByteReader(strings.NewReader(raw)))); ok {
		t.Error("a head read a byte at a time was read as plain")
	}
	c := chunks{[]byte(raw[:len(raw)-8]), []byte("lo "), []byte("world")}
	if code, body, err, ok := readPlainResponse(bufio.NewReader(&c)); !ok || code != 200 || string(body) != "hello world" || err != nil {
		t.Errorf("body in pieces: (%d, %q, %v, %v), want (200, \"hello world\", nil, true)", code, body, err, ok)
	}
	// An error while reading the body is the body's error, as with
	// ReadResponse's body.
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc"), iotest.ErrReader(boom))
	if code, body, err, ok := readPlainResponse(bufio.NewReader(r)); !ok || code != 200 || string(body) != "abc" || err != boom {
		t.Errorf("body error: (%d, %q, %v, %v), want (200, \"abc\", boom, true)", code, body, err, ok)
	}
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}
