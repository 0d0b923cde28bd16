package agent

import (
	"testing"
	"time"
)

func TestBackoffSequence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b backoff
	now := t0
	// The first exit restarts at once.
	if in, _ := b.inBackoffSince(now, now); in {
		t.Fatal("first restart must not wait")
	}
	b = b.next(now)
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 300 * time.Second, 300 * time.Second}
	for i, w := range want {
		exit := now.Add(time.Second) // the container ran one second
		in, until := b.inBackoffSince(exit, exit)
		if !in || until.Sub(exit) != w {
			t.Fatalf("restart %d: in=%v wait=%v, want %v", i+2, in, until.Sub(exit), w)
		}
		if in, _ := b.inBackoffSince(exit, until); in {
			t.Fatalf("restart %d: still in back-off at its end", i+2)
		}
		now = until
		b = b.next(now)
	}
}

func TestBackoffResetsAfterTenMinutes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := backoff{}.next(t0).next(t0.Add(20 * time.Second)) // 20 s
	exit := t0.Add(20*time.Second + 10*time.Minute + time.Second)
	if in, _ := b.inBackoffSince(exit, exit); in {
		t.Fatal("back-off must reset after 10 minutes without a restart")
	}
	if got := b.next(exit).Delay; got != backoffInitial {
		t.Fatalf("after reset delay = %v, want %v", got, backoffInitial)
	}
	// Within 10 minutes it keeps growing.
	exit = t0.Add(20*time.Second + 9*time.Minute)
	if got := b.next(exit).Delay; got != 40*time.Second {
		t.Fatalf("delay = %v, want 40s", got)
	}
}
