package procmem

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"
)

func TestImageRanges(t *testing.T) {
	maps := `00400000-01e76000 r-xp 00000000 08:01 1234 /usr/bin/miniagent-daemon
01e76000-03c51000 r--p 01a76000 08:01 1234 /usr/bin/miniagent-daemon
03c51000-03d6a000 rw-p 03851000 08:01 1234 /usr/bin/miniagent-daemon
03d6a000-05dbe000 rw-p 00000000 00:00 0
c000000000-c004000000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--p 00000000 08:01 99 /usr/bin/miniagent-daemon-other
7f0000001000-7f0000002000 r--s 00000000 08:01 98 /usr/bin/miniagent-daemon
7f0000002000-7f0000003000 r-xp 00000000 08:01 97 /usr/bin/miniagent-daemon (deleted)
7f0000003000-7f0000004000 ---p 00000000 08:01 97 /usr/bin/miniagent-daemon
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
`
	got, err := ImageRanges(strings.NewReader(maps), "/usr/bin/miniagent-daemon")
	if err != nil {
		t.Fatal(err)
	}
	// Text, read-only data, a shared read-only mapping and the (deleted)
	// name of a replaced file; never data, bss, anonymous, another file,
	// or a mapping with no access.
	want := []Range{{0x400000, 0x1e76000}, {0x1e76000, 0x3c51000}, {0x7f0000001000, 0x7f0000002000}, {0x7f0000002000, 0x7f0000003000}}
	if len(got) != len(want) {
		t.Fatalf("ranges %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("range %d = %x, want %x", i, got[i], want[i])
		}
	}

	for _, bad := range []string{
		"zz-01 r-xp 0 0:0 1 /x\n",
		"01000-00400 r-xp 0 0:0 1 /x\n",
		"01000 r-xp 0 0:0 1 /x\n",
	} {
		if _, err := ImageRanges(strings.NewReader(bad), "/x"); err == nil || !strings.Contains(err.Error(), "line 1: bad address range") {
			t.Errorf("%q: err %v, want a bad address range on line 1", bad, err)
		}
	}
}

func TestStatusField(t *testing.T) {
	st := "Name:\tx\nVmRSS:\t   43544 kB\nRssAnon:\t    6932 kB\nRssFile:\t   36612 kB\n"
	for name, want := range map[string]int64{"VmRSS": 43544 << 10, "RssFile": 36612 << 10, "RssAnon": 6932 << 10} {
		if got, err := statusField(st, name); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", name, got, err, want)
		}
	}
	if _, err := statusField(st, "RssShmem"); err == nil {
		t.Error("a missing line gave no error")
	}
	if _, err := statusField("RssFile:\tlots kB\n", "RssFile"); err == nil {
		t.Error("a bad number gave no error")
	}
}

// TestDrop unmaps this test binary's read-only pages for real: its
// file-backed RSS falls, and the code and data it needs come back (the
// test goes on running and reads its data).
func TestDrop(t *testing.T) {
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	before, after, err := Drop()
	if err != nil {
		t.Fatal(err)
	}
	if before <= 0 || after >= before {
		t.Fatalf("RssFile %d -> %d bytes: want it to fall", before, after)
	}
	t.Logf("RssFile %d -> %d KiB", before>>10, after>>10)
	// Read-only data (the maps text compared with a new read) and code
	// (strings, the test framework) work as before.
	again, err := os.ReadFile("/proc/self/maps")
	if err != nil || !bytes.Equal(bytes.Fields(data)[0], bytes.Fields(again)[0]) {
		t.Fatalf("after the drop: %v", err)
	}
	if now, err := RSSFile(); err != nil || now <= after {
		t.Errorf("RssFile %d after use, %v: want pages back (more than %d)", now, err, after)
	}
}

type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *lines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func TestRunSchedule(t *testing.T) {
	clk := testclock.NewFakeClock(time.Unix(1000, 0))
	out := &lines{}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, clk, time.Minute, 5*time.Minute, log)
	}()
	const msg = "dropped the executable's pages"
	waitFor := func(n int, level string) {
		t.Helper()
		for i := 0; !clk.HasWaiters() || out.count(msg) < n; i++ {
			if i > 2000 {
				t.Fatalf("after %d drops: log %q", n, out.String())
			}
			time.Sleep(time.Millisecond)
		}
		if got := out.count("level=" + level + " msg=\"" + msg); got < 1 {
			t.Fatalf("no %s line: %q", level, out.String())
		}
	}
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(59 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if out.count(msg) != 0 {
		t.Fatal("dropped before the first minute")
	}
	clk.Step(time.Second)
	waitFor(1, "INFO")
	clk.Step(4 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if out.count(msg) != 1 {
		t.Fatal("dropped again before the interval")
	}
	clk.Step(time.Minute)
	waitFor(2, "DEBUG")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}
