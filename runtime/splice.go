package runtime

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
)

// halfCloser is a connection whose write side can be shut alone (TCP).
type halfCloser interface {
	CloseWrite() error
}

// resetter is a stream that can be closed in both directions at once
// (httpstream.Stream's Reset).
type resetter interface {
	Reset() error
}

// Splice copies stream to conn and conn to stream until both directions
// ended or ctx ends, then closes both. When one side's input ends, the
// other side's write direction is shut (CloseWrite on conn; Close on a
// stream, which for SPDY and WebSocket port-forward streams is a half
// close), so a client that half-closes still gets its whole answer. A
// direction that fails (rather than reaching EOF) closes both at once.
// The error is the first failure other than a close Splice caused, or nil.
func Splice(ctx context.Context, stream io.ReadWriteCloser, conn net.Conn) error {
	var (
		once     sync.Once
		firstErr error
	)
	closeAll := func(err error) {
		once.Do(func() {
			firstErr = err
			conn.Close()
			if r, ok := stream.(resetter); ok && err != nil {
				_ = r.Reset() // both directions: a blocked read of ours ends too
			} else {
				stream.Close()
			}
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() { // client → pod
		if _, err := io.Copy(conn, stream); err != nil {
			closeAll(err)
			return
		}
		if hc, ok := conn.(halfCloser); ok {
			if err := hc.CloseWrite(); err != nil {
				closeAll(err)
			}
			return
		}
		closeAll(nil)
	})
	down := make(chan struct{})
	wg.Go(func() { // pod → client
		defer close(down)
		if _, err := io.Copy(stream, conn); err != nil {
			closeAll(err)
			return
		}
		// Tell the client the pod is done sending; the client ends the
		// other direction (kubectl resets the stream).
		if err := stream.Close(); err != nil {
			closeAll(err)
		}
	})
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			closeAll(ctx.Err())
		case <-stop:
		}
	}()
	wg.Wait()
	close(stop)
	closeAll(nil)
	if isClosedErr(firstErr) {
		return nil
	}
	return firstErr
}

// isClosedErr: an error a copy sees once the other direction closed both.
func isClosedErr(err error) bool {
	return err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
