package containerd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miniagent/miniagent/runtime"
)

// decodeExecRequest parses a request as execserver.c does, for the tests:
// ok false where the server would end with status 2.
func decodeExecRequest(b []byte) (timeoutMS, max uint32, argv []string, ok bool) {
	if len(b) < 4 {
		return 0, 0, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if n < 12 || n > execMaxRequest || int(n) != len(b)-4 {
		return 0, 0, nil, false
	}
	req := b[4:]
	timeoutMS, max = binary.BigEndian.Uint32(req), binary.BigEndian.Uint32(req[4:])
	argc := binary.BigEndian.Uint32(req[8:])
	if argc < 1 || argc > execMaxArgs || max > execMaxOutput {
		return 0, 0, nil, false
	}
	rest := req[12:]
	for i := uint32(0); i < argc; i++ {
		j := bytes.IndexByte(rest, 0)
		if j < 0 {
			return 0, 0, nil, false
		}
		argv = append(argv, string(rest[:j]))
		rest = rest[j+1:]
	}
	if len(rest) != 0 || argv[0] == "" {
		return 0, 0, nil, false
	}
	return timeoutMS, max, argv, true
}

func TestEncodeExecRequest(t *testing.T) {
	long := strings.Repeat("x", execMaxRequest)
	for _, tc := range []struct {
		name    string
		argv    []string
		timeout time.Duration
		max     int
		wantMS  uint32
		wantErr string
	}{
		{name: "plain", argv: []string{"cat", "/tmp/healthy"}, timeout: time.Second, max: 10240, wantMS: 1000},
		{name: "no timeout", argv: []string{"true"}, max: 0, wantMS: 0},
		{name: "sub-millisecond rounds up, never to none", argv: []string{"true"}, timeout: time.Nanosecond, wantMS: 1},
		{name: "rounds up", argv: []string{"true"}, timeout: 1500 * time.Microsecond, wantMS: 2},
		{name: "huge timeout is clamped", argv: []string{"true"}, timeout: 2000 * time.Hour, wantMS: 1<<32 - 1},
		{name: "empty args after the first", argv: []string{"sh", "", "-c"}, wantMS: 0},
		{name: "unicode", argv: []string{"echo", "grüße ✓"}, wantMS: 0},
		{name: "max output at the cap", argv: []string{"true"}, max: execMaxOutput},
		{name: "empty command", argv: nil, wantErr: "empty command"},
		{name: "empty argv0", argv: []string{"", "x"}, wantErr: "command[0] is empty"},
		{name: "NUL byte", argv: []string{"echo", "a\x00b"}, wantErr: "command[1] contains a NUL byte"},
		{name: "too many args", argv: make([]string, execMaxArgs+1), wantErr: "command has 4097 arguments"},
		{name: "negative timeout", argv: []string{"true"}, timeout: -time.Second, wantErr: "timeout -1s is negative"},
		{name: "negative max", argv: []string{"true"}, max: -1, wantErr: "maxOutput -1"},
		{name: "max past the cap", argv: []string{"true"}, max: execMaxOutput + 1, wantErr: "maxOutput 16777217"},
		{name: "too big", argv: []string{"echo", long}, wantErr: "at most 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "too many args" {
				for i := range tc.argv {
					tc.argv[i] = "a"
				}
			}
			b, err := encodeExecRequest(tc.argv, tc.timeout, tc.max)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ms, max, argv, ok := decodeExecRequest(b)
			if !ok || ms != tc.wantMS || int(max) != tc.max || !slices.Equal(argv, tc.argv) {
				t.Fatalf("decoded %v %d %d %q, want %d %d %q", ok, ms, max, argv, tc.wantMS, tc.max, tc.argv)
			}
		})
	}
}

// answer builds an answer frame.
func answerFrame(kind byte, value int32, out string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(5+len(out)))
	b = append(b, kind)
	b = binary.BigEndian.AppendUint32(b, uint32(value))
	return append(b, out...)
}

func TestReadExecAnswer(t *testing.T) {
	lenOnly := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	for _, tc := range []struct {
		name     string
		in       []byte
		max      int
		want     execAnswer
		protocol bool // want errExecProtocol
		ioErr    bool // want a read error that is not a protocol error
	}{
		{name: "exited", in: answerFrame(execExited, 3, "out"), max: 10, want: execAnswer{kind: execExited, value: 3, output: []byte("out")}},
		{name: "output at the cap", in: answerFrame(execExited, 0, "0123"), max: 4, want: execAnswer{output: []byte("0123")}},
		{name: "signaled", in: answerFrame(execSignaled, 9, ""), max: 4, want: execAnswer{kind: execSignaled, value: 9, output: []byte{}}},
		{name: "timed out with output", in: answerFrame(execTimedOut, 9, "part"), max: 4, want: execAnswer{kind: execTimedOut, value: 9, output: []byte("part")}},
		{name: "not run", in: answerFrame(execNotRun, 2, ""), max: 4, want: execAnswer{kind: execNotRun, value: 2, output: []byte{}}},
		{name: "negative value", in: answerFrame(execExited, -1, ""), max: 0, want: execAnswer{value: -1, output: []byte{}}},
		{name: "output past the cap", in: answerFrame(execExited, 0, "01234"), max: 4, protocol: true},
		{name: "length below the header", in: lenOnly(4), max: 4, protocol: true},
		{name: "huge length", in: lenOnly(1<<32 - 1), max: 10240, protocol: true},
		{name: "unknown kind", in: answerFrame(9, 0, ""), max: 4, protocol: true},
		{name: "not run with output", in: answerFrame(execNotRun, 2, "x"), max: 4, protocol: true},
		{name: "server error with output", in: answerFrame(execServerErr, 12, "x"), max: 4, protocol: true},
		{name: "empty", in: nil, max: 4, ioErr: true},
		{name: "short length", in: []byte{0, 0}, max: 4, ioErr: true},
		{name: "short header", in: answerFrame(execExited, 0, "")[:7], max: 4, ioErr: true},
		{name: "short output", in: answerFrame(execExited, 0, "abc")[:10], max: 4, ioErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := readExecAnswer(bytes.NewReader(tc.in), tc.max)
			switch {
			case tc.protocol:
				if !errors.Is(err, errExecProtocol) {
					t.Fatalf("err = %v, want a protocol error", err)
				}
			case tc.ioErr:
				if err == nil || errors.Is(err, errExecProtocol) {
					t.Fatalf("err = %v, want a read error", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if a.kind != tc.want.kind || a.value != tc.want.value || !bytes.Equal(a.output, tc.want.output) {
					t.Fatalf("answer %+v, want %+v", a, tc.want)
				}
			}
		})
	}
}

func TestReadExecHello(t *testing.T) {
	good := append([]byte(execProtoMagic), 0, 0, 0, 1)
	if err := readExecHello(bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"other version": append([]byte(execProtoMagic), 0, 0, 0, 2),
		"other magic":   []byte("MAEY\x00\x00\x00\x01"),
		"short":         []byte("MAE"),
		"nothing":       nil,
	} {
		if err := readExecHello(bytes.NewReader(in)); !errors.Is(err, errExecProtocol) {
			t.Errorf("%s: err = %v, want a protocol error", name, err)
		}
	}
}

func FuzzExecAnswer(f *testing.F) {
	f.Add(answerFrame(execExited, 0, "ok"), 10)
	f.Add(answerFrame(execTimedOut, 9, ""), 0)
	f.Add([]byte{0, 0, 0, 5, 3, 0, 0, 0, 2}, 1)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 10240)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max < 0 || max > execMaxOutput {
			return
		}
		a, err := readExecAnswer(bytes.NewReader(in), max)
		if err != nil {
			return
		}
		if len(a.output) > max || a.kind > execServerErr {
			t.Fatalf("accepted %+v for cap %d", a, max)
		}
		// What was accepted re-encodes to the bytes it was read from.
		if re := answerFrame(a.kind, a.value, string(a.output)); !bytes.HasPrefix(in, re) {
			t.Fatalf("answer %+v re-encodes to %x, read from %x", a, re, in)
		}
	})
}

func FuzzExecRequest(f *testing.F) {
	f.Add("cat\x00/tmp/healthy", int64(time.Second), 10240)
	f.Add("sh\x00-c\x00exit 3", int64(0), 0)
	f.Add("\x00", int64(-1), -1)
	f.Fuzz(func(t *testing.T, args string, timeout int64, max int) {
		argv := strings.Split(args, "\x00")
		b, err := encodeExecRequest(argv, time.Duration(timeout), max)
		if err != nil {
			return
		}
		_, gotMax, got, ok := decodeExecRequest(b)
		if !ok || int(gotMax) != max || !slices.Equal(got, argv) {
			t.Fatalf("%q: decoded %v %d %q", argv, ok, gotMax, got)
		}
	})
}

func TestChooseExec(t *testing.T) {
	now := time.Unix(1000, 0)
	alive := &execServer{dead: make(chan struct{})}
	dead := &execServer{dead: make(chan struct{})}
	close(dead.dead)
	for _, tc := range []struct {
		name       string
		haveHelper bool
		e          execState
		plan       execPlan
		reason     string
	}{
		{name: "runtime without helper", haveHelper: false, e: execState{srv: alive}, plan: planRunc, reason: FallbackNoHelper},
		{name: "container without helper", haveHelper: true, e: execState{noHelper: true}, plan: planRunc, reason: FallbackNoHelper},
		{name: "first exec", haveHelper: true, plan: planStart},
		{name: "running server", haveHelper: true, e: execState{srv: alive}, plan: planUse},
		{name: "server ended: restart", haveHelper: true, e: execState{srv: dead}, plan: planStart},
		{name: "start failed just now", haveHelper: true, e: execState{failedAt: now.Add(-time.Second)}, plan: planRunc, reason: FallbackStartFailed},
		{name: "start failed a while ago", haveHelper: true, e: execState{failedAt: now.Add(-execRetryAfter)}, plan: planStart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, reason := chooseExec(tc.haveHelper, tc.e, now)
			if plan != tc.plan || reason != tc.reason {
				t.Fatalf("chooseExec = %d %q, want %d %q", plan, reason, tc.plan, tc.reason)
			}
		})
	}
}

func TestFallbackFor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		ctxErr error
		want   string
	}{
		{"protocol", errExecProtocol, nil, FallbackProtocol},
		{"died", errServerDied, nil, FallbackServerDied},
		{"closed pipe", os.ErrClosed, nil, FallbackServerDied},
		{"no answer in time", os.ErrDeadlineExceeded, nil, ""},
		{"caller gave up", os.ErrDeadlineExceeded, errors.New("context canceled"), ""},
	} {
		if got := fallbackFor(tc.err, tc.ctxErr); got != tc.want {
			t.Errorf("%s: fallbackFor = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestExecResult(t *testing.T) {
	cmd := []string{"cat", "/tmp/healthy"}
	for _, tc := range []struct {
		name     string
		a        execAnswer
		code     int
		out      string
		reason   string
		timeout  bool
		errMatch string
	}{
		{name: "exit 0", a: execAnswer{kind: execExited, output: []byte("ok")}, code: 0, out: "ok"},
		{name: "exit 3", a: execAnswer{kind: execExited, value: 3}, code: 3},
		{name: "killed by SIGTERM is 143, as containerd says", a: execAnswer{kind: execSignaled, value: 15}, code: 143},
		{name: "timeout", a: execAnswer{kind: execTimedOut, value: 9, output: []byte("part")}, code: -1, out: "part", timeout: true},
		{name: "not found", a: execAnswer{kind: execNotRun, value: int32(syscall.ENOENT)}, errMatch: `start "cat": exec: "cat": executable file not found in $PATH`},
		{name: "permission", a: execAnswer{kind: execNotRun, value: int32(syscall.EACCES)}, errMatch: "permission denied"},
		{name: "server could not fork", a: execAnswer{kind: execServerErr, value: int32(syscall.EAGAIN)}, reason: FallbackServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, reason, err := execResult("c1", cmd, time.Second, tc.a)
			if reason != tc.reason {
				t.Fatalf("reason %q, want %q", reason, tc.reason)
			}
			if reason != "" {
				return
			}
			switch {
			case tc.timeout:
				if !errors.Is(err, runtime.ErrExecTimeout) {
					t.Fatalf("err = %v, want ErrExecTimeout", err)
				}
			case tc.errMatch != "":
				if err == nil || !strings.Contains(err.Error(), tc.errMatch) {
					t.Fatalf("err = %v, want %q", err, tc.errMatch)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if res.ExitCode != tc.code || string(res.Output) != tc.out {
				t.Fatalf("result %d %q, want %d %q", res.ExitCode, res.Output, tc.code, tc.out)
			}
		})
	}
}
