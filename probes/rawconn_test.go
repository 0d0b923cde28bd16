package probes

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rawPair dials a loopback listener with dialRaw and returns both ends.
func rawPair(t *testing.T) (client net.Conn, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	c, err := dialRaw(context.Background(), time.Time{}, "", netip.MustParseAddr("127.0.0.1"), port)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c, s
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func TestRawConnReadWriteEOF(t *testing.T) {
	before := openFDs(t)
	c, s := rawPair(t)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read %q, %v", buf, err)
	}
	go func() { s.Write([]byte("pong")); s.Close() }()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "pong" {
		t.Fatalf("client read %q, %v; want pong and EOF", got, err)
	}
	if c.RemoteAddr().String() != s.LocalAddr().String() {
		t.Errorf("RemoteAddr %v, want %v", c.RemoteAddr(), s.LocalAddr())
	}
	if c.LocalAddr().String() != s.RemoteAddr().String() {
		t.Errorf("LocalAddr %v, want %v", c.LocalAddr(), s.RemoteAddr())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
	s.Close()
	if after := openFDs(t); after != before {
		t.Errorf("open fds %d -> %d", before, after)
	}
}

func TestRawConnDeadlines(t *testing.T) {
	c, _ := rawPair(t)
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "i/o timeout") {
		t.Fatalf("Read: %v, want an i/o timeout", err)
	}
	if el := time.Since(start); el < 25*time.Millisecond || el > 2*time.Second {
		t.Errorf("timed out after %v, want about 30ms", el)
	}
	if !strings.HasPrefix(err.Error(), "read tcp 127.0.0.1:") {
		t.Errorf("error %q does not read like the net package's", err)
	}
	// A deadline moved into the past by another goroutine ends a blocked Read.
	_ = c.SetReadDeadline(time.Time{})
	go func() { time.Sleep(20 * time.Millisecond); _ = c.SetDeadline(time.Unix(1, 0)) }()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after SetDeadline(past): %v", err)
	}
}

func TestRawConnCloseWakesRead(t *testing.T) {
	before := openFDs(t)
	c, s := rawPair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked Read ended with %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake the blocked Read")
	}
	s.Close()
	if after := openFDs(t); after != before {
		t.Errorf("open fds %d -> %d: the descriptor was not closed after the last call", before, after)
	}
}

func TestRawConnWriteToClosedPeer(t *testing.T) {
	c, s := rawPair(t)
	defer c.Close()
	s.Close()
	var err error
	for i := 0; i < 100 && err == nil; i++ { // the first write may still succeed
		_, err = c.Write(make([]byte, 1<<16))
		time.Sleep(time.Millisecond)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "write tcp ") {
		t.Fatalf("write to a closed peer: %v, want EPIPE or ECONNRESET as a write error (and no SIGPIPE)", err)
	}
}

func TestDialRawErrors(t *testing.T) {
	port := closedPort(t)
	_, err := dialRaw(context.Background(), time.Time{}, "", netip.MustParseAddr("127.0.0.1"), port)
	want := "dial tcp 127.0.0.1:" + strconv.Itoa(port) + ": connect: connection refused"
	if err == nil || err.Error() != want {
		t.Errorf("refused: %v, want %q", err, want)
	}
	hole := blackholePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_, err = dialRaw(ctx, deadline, "", netip.MustParseAddr("127.0.0.1"), hole)
	want = "dial tcp 127.0.0.1:" + strconv.Itoa(hole) + ": i/o timeout"
	if err == nil || err.Error() != want || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("timeout: %v, want %q", err, want)
	}
}

// A connection whose calls never had to wait stays off the poller; its
// deadlines and Close behave as on the poller.
func TestRawConnStaysBareUntilItWaits(t *testing.T) {
	before := openFDs(t)
	conn, s := rawPair(t)
	c := conn.(*rawConn)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	waitFor(t, 2*time.Second, "the answer to arrive", func() bool {
		var pfd = []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(pfd, 0)
		return n == 1
	})
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if c.f != nil {
		t.Fatal("the socket went on the poller although no call waited")
	}
	// A deadline already passed fails a call at once, even with data there.
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) || !strings.HasPrefix(err.Error(), "read tcp 127.0.0.1:") {
		t.Fatalf("Read past the deadline: %v, want a read i/o timeout", err)
	}
	_ = c.SetDeadline(time.Now().Add(-time.Second))
	if _, err := c.Write(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the deadline: %v, want an i/o timeout", err)
	}
	_ = c.SetDeadline(time.Time{})
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("read after clearing the deadline %q, %v", buf[:n], err)
	}
	if c.f != nil {
		t.Fatal("the socket went on the poller although no call waited")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	if c.LocalAddr() != nil {
		t.Errorf("LocalAddr after Close: %v, want nil", c.LocalAddr())
	}
	s.Close()
	if after := openFDs(t); after != before {
		t.Errorf("open fds %d -> %d", before, after)
	}
}

// connectResult tells a connect still in progress (EALREADY) from one
// made (0, then EISCONN when asked again) and one refused, with one
// connect(2) each.
func TestConnectResult(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cases := []struct {
		name     string
		port     int
		wantErr  error
		stalling bool // never made: the SYN goes unanswered
	}{
		{name: "made", port: l.Addr().(*net.TCPAddr).Port},
		{name: "refused", port: closedPort(t), wantErr: unix.ECONNREFUSED},
		{name: "in progress", port: blackholePort(t), stalling: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			sa := &unix.SockaddrInet4{Port: tc.port, Addr: [4]byte{127, 0, 0, 1}}
			if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS && err != tc.wantErr {
				t.Fatalf("connect: %v", err)
			} else if err == tc.wantErr && err != nil {
				t.Skip("refused by connect itself: connectResult is not asked")
			}
			if tc.stalling {
				for range 3 {
					time.Sleep(20 * time.Millisecond)
					if done, err := connectResult(fd, sa); done || err != nil {
						t.Fatalf("connect with an unanswered SYN: done %v, %v; want in progress", done, err)
					}
				}
				return
			}
			var done bool
			waitFor(t, 2*time.Second, "the connect to end", func() bool {
				done, err = connectResult(fd, sa)
				return done
			})
			if err != tc.wantErr {
				t.Fatalf("connectResult: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil {
				if done, err := connectResult(fd, sa); !done || err != nil {
					t.Fatalf("asked again once made: done %v, %v; want done, no error", done, err)
				}
			}
		})
	}
}
