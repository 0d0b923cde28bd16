// Package fast answers the client's most frequent calls with the standard
// library alone, so that the `miniagent` entry point, which links nothing
// else, starts and ends them in a few milliseconds:
//
//   - `get pods` in the table formats: the daemon's local API renders the
//     rows (a meta.k8s.io/v1 Table, as the apiserver serves `kubectl
//     get`), this package prints them;
//   - `apply -f FILE` of one pod: the file goes to the daemon as it is, and
//     the daemon decodes it with the full CLI's decoder;
//   - `wait --for=condition=TYPE pod/NAME`: the daemon's watch of the pod.
//
// Every other call, and any this package cannot answer exactly as the full
// CLI would (other flags, an error, an old daemon), goes to the full CLI,
// and only when nothing has been written or changed: the full CLI then
// does the whole call and says what is wrong in its own words.
//
// It must not import Kubernetes packages, nor net: cmd/miniagent's test
// checks.
package fast

import (
	"bufio"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Run answers args (without the program name) if they are one of this
// package's calls: handled is false, with nothing written and nothing
// changed, when the full CLI must run instead. socket is the default
// daemon socket (--socket overrides it).
func Run(ctx context.Context, args []string, socket string, stdout, stderr io.Writer) (rc int, handled bool) {
	if q, ok := ParseGet(args, socket); ok {
		return 0, Get(ctx, q, stdout, stderr)
	}
	if q, ok := ParseApply(args, socket); ok {
		return Apply(ctx, q, stdout, stderr)
	}
	if q, ok := ParseWait(args, socket); ok {
		return Wait(ctx, q, stdout, stderr)
	}
	return 0, false
}

// flagSpec names the flags one call takes: canonical name by spelling, and
// whether it takes a value.
type flagSpec map[string]struct {
	name   string
	valued bool
}

// scanned is what scan found: the positional arguments and, by canonical
// name, every value given (a boolean flag has "" once per use).
type scanned struct {
	pos  []string
	vals map[string][]string
}

// globalFlags are the canonical names of the flags the full CLI takes
// before the verb (the others only after it).
var globalFlags = map[string]bool{"socket": true, "namespace": true, "all": true}

// scan reads args as the full CLI's pflag sets would for the flags in
// spec: values attached (--f=v, -fv, -f=v) or following, the global flags
// (--socket, -n, -A) anywhere, the verb's own between or after the
// positional arguments. Any other flag, a verb's flag before the verb, a
// boolean flag given a value, a valued flag at the end, "--" or a lone "-"
// makes it not ours.
func scan(args []string, spec flagSpec) (scanned, bool) {
	s := scanned{vals: map[string][]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			s.pos = append(s.pos, a)
			continue
		}
		if a == "-" || a == "--" {
			return s, false
		}
		var spelling, val string
		var hasVal bool
		if strings.HasPrefix(a, "--") {
			spelling, val, hasVal = strings.Cut(a, "=")
		} else if spelling = a[:2]; len(a) > 2 {
			val, hasVal = strings.TrimPrefix(a[2:], "="), true
		}
		f, ok := spec[spelling]
		if !ok || len(s.pos) == 0 && !globalFlags[f.name] {
			return s, false
		}
		switch {
		case !f.valued && hasVal:
			return s, false
		case f.valued && !hasVal:
			if i+1 >= len(args) {
				return s, false
			}
			i++
			val = args[i]
		}
		s.vals[f.name] = append(s.vals[f.name], val)
	}
	return s, true
}

// last is the last value given for name (pflag's rule for a string flag).
func (s scanned) last(name, def string) string {
	if v := s.vals[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

func (s scanned) has(name string) bool { return len(s.vals[name]) > 0 }

// response is the head of one HTTP/1.0 answer and its body reader.
type response struct {
	status int
	header map[string]string // lower-case names
	body   *bufio.Reader
	conn   *os.File
}

func (r *response) Close() error { return r.conn.Close() }

// exchange sends one HTTP/1.0 request on the daemon's socket and reads the
// answer's head (the server closes the connection after the body): net/http's
// client, with TLS and HTTP/2 linked in, would cost more to start than the
// whole call. The caller closes the response. ctx's deadline bounds
// every read and write.
func exchange(ctx context.Context, socket, method, path string, headers map[string]string, body []byte) (*response, error) {
	conn, err := dialUnix(socket)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.0\r\nHost: miniagent\r\nUser-Agent: miniagent\r\n")
	for k, v := range headers {
		b.WriteString(k + ": " + v + "\r\n")
	}
	if body != nil {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	status := strings.Fields(line) // HTTP/1.x 200 OK
	if err != nil || len(status) < 2 || !strings.HasPrefix(status[0], "HTTP/1.") {
		conn.Close()
		return nil, io.ErrUnexpectedEOF
	}
	code, err := strconv.Atoi(status[1])
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp := &response{status: code, header: map[string]string{}, body: br, conn: conn}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return resp, nil
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			resp.header[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
}

// dialUnix connects to the unix socket at path with the syscall package:
// the net package would link the C resolver (runtime/cgo and libc, a
// dynamic binary), whose start-up costs ~4 ms of every call here. The
// returned file is in the runtime's poller, so deadlines work.
func dialUnix(path string) (*os.File, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
		if err != syscall.EINTR {
			break
		}
	}
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	if err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "dial", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
