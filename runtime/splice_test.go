package runtime

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// pipeStream is one end of a stream whose Close is a half close, like a
// SPDY port-forward stream: the peer reads EOF, reading goes on.
type pipeStream struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (p pipeStream) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p pipeStream) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p pipeStream) Close() error                { return p.w.Close() }
func (p pipeStream) Reset() error                { p.r.Close(); return p.w.Close() }

// streamPair returns the two ends of a half-closable stream.
func streamPair() (pipeStream, pipeStream) {
	ar, bw := io.Pipe()
	br, aw := io.Pipe()
	return pipeStream{r: ar, w: aw}, pipeStream{r: br, w: bw}
}

// echoServer answers one connection with "got:" and everything it read
// once the client half-closed.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		data, _ := io.ReadAll(c)
		_, _ = c.Write(append([]byte("got:"), data...))
	}()
	return l.Addr().String()
}

func TestSpliceHalfClose(t *testing.T) {
	conn, err := net.Dial("tcp", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	agentEnd, clientEnd := streamPair()
	done := make(chan error, 1)
	go func() { done <- Splice(context.Background(), agentEnd, conn) }()

	if _, err := clientEnd.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	clientEnd.Close() // half close: the server sees EOF, answers
	got, err := io.ReadAll(clientEnd)
	if err != nil || string(got) != "got:hello" {
		t.Fatalf("client read %q, %v; want the whole answer after its half close", got, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Splice: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Splice did not return after both directions ended")
	}
}

func TestSpliceContextEnds(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	agentEnd, clientEnd := streamPair()
	defer clientEnd.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Splice(ctx, agentEnd, a) }()
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("Splice after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Splice did not return when ctx ended")
	}
	// Both sides are closed.
	if _, err := b.Write([]byte("x")); err == nil {
		t.Fatal("the pod side is still open")
	}
}

func TestSpliceCopiesBothWays(t *testing.T) {
	podSide, pod := net.Pipe() // net.Pipe has no half close: Splice closes it whole
	agentEnd, clientEnd := streamPair()
	done := make(chan error, 1)
	go func() { done <- Splice(context.Background(), agentEnd, podSide) }()
	go func() {
		buf := make([]byte, 5)
		_, _ = io.ReadFull(pod, buf)
		_, _ = pod.Write([]byte(strings.ToUpper(string(buf))))
		pod.Close()
	}()
	_, _ = clientEnd.Write([]byte("hello"))
	got, _ := io.ReadAll(clientEnd)
	if string(got) != "HELLO" {
		t.Fatalf("client read %q", got)
	}
	clientEnd.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Splice did not return")
	}
}
