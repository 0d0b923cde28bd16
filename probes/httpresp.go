package probes

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
)

// Nearly every health endpoint answers a probe in one plain form: a status
// line, a few header lines, a Content-Length (or none: the body then runs
// to the end of the connection) and a short body, all of it in the first
// segment read. readPlainResponse reads that form without http.ReadResponse,
// whose header map, strings and body reader were a fifth of an HTTP
// probe's allocations. Anything else (an informational or redirect status,
// Transfer-Encoding, a header line it does not find plainly valid, a head
// that did not come whole in the first read) it leaves unread for
// http.ReadResponse, so that every result and error stays exactly that
// function's.

// readPlainResponse reads the response at the start of br if it is plain,
// and its body (up to maxOutput bytes) as readBody reads an http.Response's.
// ok false: br is as it was, save that a first read may have filled it.
func readPlainResponse(br *bufio.Reader) (code int, body []byte, bodyErr error, ok bool) {
	if _, err := br.Peek(1); err != nil {
		return 0, nil, nil, false
	}
	buf, _ := br.Peek(br.Buffered())
	code, length, end, ok := plainHead(buf)
	if !ok {
		return 0, nil, nil, false
	}
	_, _ = br.Discard(end + 4)
	if code == 204 || code == 304 { // no body, whatever the head says
		return code, []byte{}, nil, true
	}
	var r io.Reader = br
	if length >= 0 {
		r = &lengthReader{r: br, n: length}
	}
	body, bodyErr = readBody(r)
	return code, body, bodyErr, true
}

// plainHead parses the response head at the start of buf if it is plain
// and whole: its status code, its Content-Length (-1: none) and where its
// blank line starts (the body begins 4 bytes later).
func plainHead(buf []byte) (code int, length int64, end int, ok bool) {
	end = bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return 0, 0, 0, false
	}
	head := buf[:end+2] // each line with its CRLF
	line, head := cutLine(head)
	code, ok = plainStatusLine(line)
	if !ok || code < 200 || isRedirect(code) {
		return 0, 0, 0, false
	}
	length = -1
	for len(head) > 0 {
		line, head = cutLine(head)
		name, value, ok := plainHeaderLine(line)
		if !ok {
			return 0, 0, 0, false
		}
		switch {
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, 0, 0, false
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := plainLength(value)
			if !ok || length >= 0 {
				return 0, 0, 0, false // bad, or more than one: ReadResponse decides
			}
			length = n
		}
	}
	return code, length, end, true
}

// cutLine splits off the first CRLF-ended line of b.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.Index(b, []byte("\r\n"))
	return b[:i], b[i+2:]
}

// plainStatusLine parses "HTTP/1.x NNN[ reason]" with a reason of
// printable characters only.
func plainStatusLine(line []byte) (int, bool) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || (line[7] != '0' && line[7] != '1') || line[8] != ' ' {
		return 0, false
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, false
		}
		code = code*10 + int(c-'0')
	}
	if len(line) > 12 && (line[12] != ' ' || !plainText(line[13:])) {
		return 0, false
	}
	return code, true
}

// plainHeaderLine parses "Name: value": a token name right before the
// colon, and a value of printable characters and tabs. A line that
// continues the one before (it starts with a space or tab) is not plain.
func plainHeaderLine(line []byte) (name, value []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, nil, false
	}
	for _, c := range line[:colon] {
		if !isTokenChar(rune(c)) {
			return nil, nil, false
		}
	}
	value = bytes.Trim(line[colon+1:], " \t")
	if !plainText(value) {
		return nil, nil, false
	}
	return line[:colon], value, true
}

// plainText reports whether b holds only printable ASCII, spaces and tabs.
func plainText(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// plainLength parses a Content-Length as net/http does (digits only, at
// most 2^63-1); the value was already trimmed.
func plainLength(v []byte) (int64, bool) {
	n, err := strconv.ParseUint(string(v), 10, 63)
	return int64(n), err == nil
}

// lengthReader is a body of n bytes: like net/http's, an end of the
// connection before them is io.ErrUnexpectedEOF.
type lengthReader struct {
	r io.Reader
	n int64
}

func (l *lengthReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err == io.EOF && l.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
