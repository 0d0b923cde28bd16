package containerd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"
)

// The exec server's wire protocol (see execserver/execserver.c, which is
// the other half): a hello on start, then one request and one answer at a
// time, each prefixed with its length, integers big-endian.
const (
	execProtoMagic   = "MAEX"
	execProtoVersion = 1
	// Limits the server enforces; a request past them ends it.
	execMaxRequest = 1 << 20
	execMaxArgs    = 4096
	execMaxOutput  = 16 << 20
	// execMaxTimeout is the longest timeout the u32 millisecond field holds.
	execMaxTimeout = time.Duration(1<<32-1) * time.Millisecond
)

// How a command ended, as the server answers it.
const (
	execExited    = 0 // value: exit status
	execSignaled  = 1 // value: signal
	execTimedOut  = 2 // killed with SIGKILL past its timeout
	execNotRun    = 3 // value: errno of the failed execve or $PATH search
	execServerErr = 4 // value: errno of the server's pipe/fork
)

// errExecProtocol marks an exec server that said something out of the
// protocol; the server is then dropped.
var errExecProtocol = errors.New("exec server protocol error")

// execAnswer is one decoded answer.
type execAnswer struct {
	kind   byte
	value  int32
	output []byte
}

// encodeExecRequest is the request for argv with timeout (0: none) and
// output cap max. Its errors name the field at fault.
func encodeExecRequest(argv []string, timeout time.Duration, max int) ([]byte, error) {
	switch {
	case len(argv) == 0:
		return nil, errors.New("exec request: empty command")
	case argv[0] == "":
		return nil, errors.New("exec request: command[0] is empty")
	case len(argv) > execMaxArgs:
		return nil, fmt.Errorf("exec request: command has %d arguments, at most %d", len(argv), execMaxArgs)
	case timeout < 0:
		return nil, fmt.Errorf("exec request: timeout %v is negative", timeout)
	case max < 0 || max > execMaxOutput:
		return nil, fmt.Errorf("exec request: maxOutput %d outside 0..%d", max, execMaxOutput)
	}
	if timeout > execMaxTimeout {
		timeout = execMaxTimeout
	}
	ms := uint32((timeout + time.Millisecond - 1) / time.Millisecond) // never round a timeout down to "none"
	n := 12
	for i, a := range argv {
		for j := 0; j < len(a); j++ {
			if a[j] == 0 {
				return nil, fmt.Errorf("exec request: command[%d] contains a NUL byte", i)
			}
		}
		n += len(a) + 1
	}
	if n > execMaxRequest {
		return nil, fmt.Errorf("exec request: command is %d bytes, at most %d", n, execMaxRequest)
	}
	b := make([]byte, 4, 4+n)
	binary.BigEndian.PutUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, ms)
	b = binary.BigEndian.AppendUint32(b, uint32(max))
	b = binary.BigEndian.AppendUint32(b, uint32(len(argv)))
	for _, a := range argv {
		b = append(append(b, a...), 0)
	}
	return b, nil
}

// readExecHello reads and checks the server's hello.
func readExecHello(r io.Reader) error {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return fmt.Errorf("%w: hello: %w", errExecProtocol, err)
	}
	if string(h[:4]) != execProtoMagic {
		return fmt.Errorf("%w: hello %q is not %q", errExecProtocol, h[:4], execProtoMagic)
	}
	if v := binary.BigEndian.Uint32(h[4:]); v != execProtoVersion {
		return fmt.Errorf("%w: server speaks version %d, want %d", errExecProtocol, v, execProtoVersion)
	}
	return nil
}

// readExecAnswer reads one answer to a request whose output cap was max.
// Read errors are returned as they are (a timeout, a closed pipe); what
// does not fit the protocol wraps errExecProtocol.
func readExecAnswer(r io.Reader, max int) (execAnswer, error) {
	var h [9]byte
	if _, err := io.ReadFull(r, h[:4]); err != nil {
		return execAnswer{}, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n < 5 || uint64(n) > 5+uint64(max) {
		return execAnswer{}, fmt.Errorf("%w: answer of %d bytes for an output cap of %d", errExecProtocol, n, max)
	}
	if _, err := io.ReadFull(r, h[4:]); err != nil {
		return execAnswer{}, err
	}
	a := execAnswer{kind: h[4], value: int32(binary.BigEndian.Uint32(h[5:]))}
	if a.kind > execServerErr {
		return execAnswer{}, fmt.Errorf("%w: unknown answer kind %d", errExecProtocol, a.kind)
	}
	if a.kind != execExited && a.kind != execSignaled && a.kind != execTimedOut && n != 5 {
		return execAnswer{}, fmt.Errorf("%w: answer kind %d with output", errExecProtocol, a.kind)
	}
	a.output = make([]byte, n-5)
	if _, err := io.ReadFull(r, a.output); err != nil {
		return execAnswer{}, err
	}
	return a, nil
}

// exitCode is the exit code containerd would report for an answer of kind
// exited or signaled: the status, or 128 + the signal.
func (a execAnswer) exitCode() int {
	if a.kind == execSignaled {
		return 128 + int(a.value)
	}
	return int(a.value)
}

// notRunMessage says why the command could not be executed, in the words
// runc uses for the same failures.
func notRunMessage(cmd string, errno int32) string {
	if syscall.Errno(errno) == syscall.ENOENT && !strings.Contains(cmd, "/") {
		return fmt.Sprintf("exec: %q: executable file not found in $PATH", cmd)
	}
	return fmt.Sprintf("exec: %q: %v", cmd, syscall.Errno(errno))
}
