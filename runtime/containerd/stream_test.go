package containerd

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/miniagent/miniagent/runtime"
)

func TestInitialSize(t *testing.T) {
	sz := func(w, h uint16) *runtime.TerminalSize { return &runtime.TerminalSize{Width: w, Height: h} }
	tests := []struct {
		name    string
		sent    []runtime.TerminalSize // queued before the call
		close   bool                   // sizes closed after them
		timeout bool                   // the timeout has fired
		cancel  bool                   // ctx is done
		want    *runtime.TerminalSize
	}{
		{name: "first size", sent: []runtime.TerminalSize{{Width: 97, Height: 31}, {Width: 120, Height: 42}}, want: sz(97, 31)},
		{name: "unknown size (0x0)", sent: []runtime.TerminalSize{{}, {Width: 80, Height: 24}}, want: nil},
		{name: "no width", sent: []runtime.TerminalSize{{Height: 24}}, want: nil},
		{name: "no height", sent: []runtime.TerminalSize{{Width: 80}}, want: nil},
		{name: "closed at once", close: true, want: nil},
		{name: "no size before the timeout", timeout: true, want: nil},
		{name: "ctx done", cancel: true, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sizes := make(chan runtime.TerminalSize, len(tc.sent))
			for _, s := range tc.sent {
				sizes <- s
			}
			if tc.close {
				close(sizes)
			}
			timeout := make(chan time.Time, 1)
			if tc.timeout {
				timeout <- time.Time{}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			if got := initialSize(ctx, sizes, timeout); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("initialSize = %v, want %v", got, tc.want)
			}
			// Only the first size is taken: later ones stay queued for
			// the resize loop.
			if want := max(len(tc.sent)-1, 0); len(sizes) != want && !tc.timeout && !tc.cancel {
				t.Fatalf("%d sizes left queued, want %d", len(sizes), want)
			}
		})
	}
}
