package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// The daemon sets its GC target to gcPercent, unless GOGC is set.
func TestSetGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })

	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	setGCPercent()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Fatalf("GC percent %d without GOGC, want %d", got, gcPercent)
	}

	t.Setenv("GOGC", "100")
	setGCPercent()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent %d with GOGC=100 set, want it left at 100", got)
	}
}
