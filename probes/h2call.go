package probes

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A gRPC unary call over a fresh connection, written as grpc-go's client
// writes it: the HTTP/2 preface and an empty SETTINGS frame, then stream 1
// with the request headers (:method POST, :scheme http, :path,
// :authority, content-type application/grpc, user-agent, te trailers,
// grpc-timeout) and one DATA frame with the length-prefixed message. The
// four are sent in one write; the server's first frame must be its SETTINGS
// (which is when grpc-go deems a connection ready), which is acknowledged.
// The connection carries this one call and is closed after it, so the
// server's PINGs and window updates need no answer.

// errNotReady means the connection never got ready: the server did not
// send its SETTINGS first (or refused the stream before processing it).
// Like a call made with WaitForReady, the caller tries another connection.
var errNotReady = errors.New("connection not ready")

// maxReply bounds the response message kept.
const maxReply = 64 << 10

type h2Call struct {
	conn      net.Conn
	authority string
}

func newH2Call(c net.Conn, authority string) *h2Call { return &h2Call{conn: c, authority: authority} }

// unary sends msg to method and returns the reply message, or a gRPC
// status error, or an error wrapping errNotReady.
func (h *h2Call) unary(ctx context.Context, method string, msg []byte) ([]byte, error) {
	if deadline, ok := ctx.Deadline(); ok {
		_ = h.conn.SetDeadline(deadline)
	}
	defer context.AfterFunc(ctx, func() { _ = h.conn.SetDeadline(time.Unix(1, 0)) })()

	var out bytes.Buffer
	fr := http2.NewFramer(&out, bufio.NewReader(h.conn))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	out.WriteString(http2.ClientPreface)
	_ = fr.WriteSettings()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.headers(ctx, method), EndHeaders: true})
	body := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(body[1:5], uint32(len(msg)))
	copy(body[5:], msg)
	_ = fr.WriteData(1, true, body)
	if _, err := h.conn.Write(out.Bytes()); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotReady, err)
	}

	ready := false
	var (
		resp, trailers *http2.MetaHeadersFrame
		data           []byte
	)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if !ready {
				return nil, fmt.Errorf("%w: %v", errNotReady, err)
			}
			if ctx.Err() == context.Canceled {
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) { // the conn's deadline is ctx's
				return nil, status.FromContextError(context.DeadlineExceeded).Err()
			}
			return nil, status.Errorf(codes.Unavailable, "error reading from server: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			ready = true
			out.Reset()
			_ = fr.WriteSettingsAck()
			if _, err := h.conn.Write(out.Bytes()); err != nil {
				return nil, status.Errorf(codes.Unavailable, "connection error: %v", err)
			}
			continue
		}
		if !ready {
			return nil, fmt.Errorf("%w: first frame from the server is %v, not SETTINGS", errNotReady, f.Header().Type)
		}
		if f.Header().StreamID != 1 {
			if ga, ok := f.(*http2.GoAwayFrame); ok && ga.LastStreamID < 1 {
				return nil, fmt.Errorf("%w: GOAWAY before the call was processed", errNotReady)
			}
			continue // SETTINGS ack, PING, WINDOW_UPDATE, GOAWAY after our stream
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if resp == nil {
				resp = f
			} else {
				trailers = f
			}
		case *http2.DataFrame:
			if len(data)+len(f.Data()) > maxReply {
				return nil, status.Errorf(codes.ResourceExhausted, "grpc: received message larger than max (%d)", maxReply)
			}
			data = append(data, f.Data()...)
		case *http2.RSTStreamFrame:
			if f.ErrCode == http2.ErrCodeRefusedStream {
				return nil, fmt.Errorf("%w: stream refused", errNotReady)
			}
			code := rstCode(f.ErrCode)
			if deadline, ok := ctx.Deadline(); ok && code == codes.Canceled && !deadline.After(time.Now()) {
				// Cancelled because our deadline passed, as grpc-go reads it.
				code = codes.DeadlineExceeded
			}
			return nil, status.Errorf(code, "stream terminated by RST_STREAM with error code: %v", f.ErrCode)
		}
		if f.Header().Flags.Has(http2.FlagDataEndStream) { // the same bit ends HEADERS
			return replyOf(resp, trailers, data)
		}
	}
}

func (h *h2Call) headers(ctx context.Context, method string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	fields := []hpack.HeaderField{
		{Name: ":method", Value: "POST"},
		{Name: ":scheme", Value: "http"},
		{Name: ":path", Value: method},
		{Name: ":authority", Value: h.authority},
		{Name: "content-type", Value: "application/grpc"},
		{Name: "user-agent", Value: userAgent + " grpc-go/" + grpc.Version},
		{Name: "te", Value: "trailers"},
	}
	if deadline, ok := ctx.Deadline(); ok {
		fields = append(fields, hpack.HeaderField{Name: "grpc-timeout", Value: grpcTimeout(time.Until(deadline))})
	}
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	return b.Bytes()
}

// replyOf turns the response headers, trailers (nil for a trailers-only
// response) and data of a finished stream into the reply or its status.
func replyOf(resp, trailers *http2.MetaHeadersFrame, data []byte) ([]byte, error) {
	if resp == nil {
		return nil, status.Error(codes.Internal, "server closed the stream without sending headers")
	}
	if code, err := strconv.Atoi(resp.PseudoValue("status")); err != nil || code != http.StatusOK {
		c, ok := httpStatusCodes[code]
		if !ok {
			c = codes.Unknown
		}
		return nil, status.Errorf(c, "unexpected HTTP status code received from server: %d (%s)", code, http.StatusText(code))
	}
	if ct := firstValue(resp, "content-type"); !isGRPCContentType(ct) {
		return nil, status.Errorf(codes.Unknown, "transport: received unexpected content-type %q", ct)
	}
	last := trailers
	if last == nil {
		last = resp // trailers-only
	}
	st := firstValue(last, "grpc-status")
	if st == "" {
		return nil, status.Error(codes.Internal, "server closed the stream without sending trailers")
	}
	code, err := strconv.ParseUint(st, 10, 32)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "transport: malformed grpc-status: %v", err)
	}
	if code != 0 {
		return nil, status.Error(codes.Code(code), percentDecode(firstValue(last, "grpc-message")))
	}
	if len(data) < 5 {
		return nil, status.Error(codes.Internal, "cardinality violation: expected <Response> got <EOF>")
	}
	if data[0] != 0 {
		return nil, status.Error(codes.Internal, "grpc: compressed flag set with identity or empty encoding")
	}
	n := binary.BigEndian.Uint32(data[1:5])
	if uint64(n) > uint64(len(data)-5) {
		return nil, status.Error(codes.Internal, "grpc: message truncated")
	}
	return data[5 : 5+n], nil
}

func firstValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.Fields {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}

func isGRPCContentType(ct string) bool {
	return ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+") || strings.HasPrefix(ct, "application/grpc;")
}

// httpStatusCodes maps HTTP statuses to gRPC codes as grpc-go does.
var httpStatusCodes = map[int]codes.Code{
	http.StatusBadRequest:         codes.Internal,
	http.StatusUnauthorized:       codes.Unauthenticated,
	http.StatusForbidden:          codes.PermissionDenied,
	http.StatusNotFound:           codes.Unimplemented,
	http.StatusTooManyRequests:    codes.Unavailable,
	http.StatusBadGateway:         codes.Unavailable,
	http.StatusServiceUnavailable: codes.Unavailable,
	http.StatusGatewayTimeout:     codes.Unavailable,
}

// rstCode maps an RST_STREAM error code to a gRPC code as grpc-go does.
func rstCode(c http2.ErrCode) codes.Code {
	switch c {
	case http2.ErrCodeFlowControl, http2.ErrCodeEnhanceYourCalm:
		return codes.ResourceExhausted
	case http2.ErrCodeRefusedStream:
		return codes.Unavailable
	case http2.ErrCodeCancel:
		return codes.Canceled
	case http2.ErrCodeInadequateSecurity:
		return codes.PermissionDenied
	}
	return codes.Internal
}

// grpcTimeout encodes d as a grpc-timeout value: at most 8 digits, rounded
// up, in the finest unit that fits.
func grpcTimeout(d time.Duration) string {
	if d <= 0 {
		return "0n"
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Nanosecond, "n"}, {time.Microsecond, "u"}, {time.Millisecond, "m"}, {time.Second, "S"}, {time.Minute, "M"}} {
		if n := (d + u.unit - 1) / u.unit; n <= 99999999 {
			return strconv.FormatInt(int64(n), 10) + u.name
		}
	}
	return strconv.FormatInt(int64((d+time.Hour-1)/time.Hour), 10) + "H"
}

// percentDecode decodes a grpc-message: %XX escapes, others kept as sent.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
