package crilog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newSpool makes a spool in a temp dir and returns it with its log path.
func newSpool(t *testing.T) (dir, logPath string) {
	t.Helper()
	base := t.TempDir()
	dir, logPath = filepath.Join(base, "spool", "c1"), filepath.Join(base, "pods", "main", "0.log")
	if _, _, err := CreateSpool(dir, logPath); err != nil {
		t.Fatal(err)
	}
	return dir, logPath
}

// appendRaw appends s to a raw stream file as the shim does.
func appendRaw(t *testing.T, dir, stream, s string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, stream), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func newTailer(t *testing.T) *Tailer {
	t.Helper()
	tl, err := NewTailer(func() time.Time { return time.Unix(0, 0) }, func(dir string, err error) { t.Errorf("tailer: %s: %v", dir, err) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tl.Close() })
	return tl
}

// records reads the log and returns "stream tag content" per record.
func records(t *testing.T, logPath string) []string {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if l == "" {
			continue
		}
		_, rest, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("bad record %q", l)
		}
		out = append(out, rest)
	}
	return out
}

// waitRecords waits until the log holds want (as a set of records in order per stream).
func waitRecords(t *testing.T, logPath string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := records(t, logPath)
		if len(r) >= n || time.Now().After(deadline) {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTailerFormatsBothStreams(t *testing.T) {
	dir, logPath := newSpool(t)
	tl := newTailer(t)
	appendRaw(t, dir, spoolStdout, "before follow\n")
	if err := tl.Follow(dir); err != nil {
		t.Fatal(err)
	}
	if err := tl.Follow(dir); err != nil { // idempotent
		t.Fatal(err)
	}
	appendRaw(t, dir, spoolStderr, "oops\r\n")
	appendRaw(t, dir, spoolStdout, "two\nprompt> ")
	got := waitRecords(t, logPath, 4)
	want := map[string]bool{"stdout F before follow": true, "stderr F oops": true, "stdout F two": true, "stdout P prompt> ": true}
	if len(got) != 4 {
		t.Fatalf("records = %q, want %d", got, len(want))
	}
	for _, r := range got {
		if !want[r] {
			t.Errorf("unexpected record %q in %q", r, got)
		}
	}
}

func TestTailerSplitsLongLines(t *testing.T) {
	dir, logPath := newSpool(t)
	tl := newTailer(t)
	if err := tl.Follow(dir); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", MaxLineSize*2+5)
	appendRaw(t, dir, spoolStdout, long+"\n")
	got := waitRecords(t, logPath, 3)
	want := []string{"stdout P " + long[:MaxLineSize], "stdout P " + long[MaxLineSize:2*MaxLineSize], "stdout F xxxxx"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d records, want P, P, F of sizes 16384, 16384, 5", len(got))
	}
}

// A partial line not yet flushed when the agent stops is not committed:
// the next Tailer reads it again and joins it with what follows.
func TestTailerRestartKeepsUnterminatedRest(t *testing.T) {
	dir, logPath := newSpool(t)
	tl := newTailer(t)
	if err := tl.Follow(dir); err != nil {
		t.Fatal(err)
	}
	appendRaw(t, dir, spoolStdout, "one\nhal")
	waitRecords(t, logPath, 1)
	if err := tl.Close(); err != nil { // the agent stops within PartialFlushDelay
		t.Fatal(err)
	}
	appendRaw(t, dir, spoolStdout, "f\nthree\n") // written while the agent is away
	tl2 := newTailer(t)
	if err := tl2.Follow(dir); err != nil {
		t.Fatal(err)
	}
	got := waitRecords(t, logPath, 3)
	if want := "[stdout F one stdout F half stdout F three]"; fmt.Sprint(got) != want {
		t.Fatalf("records = %q, want %s", got, want)
	}
}

// A SIGKILL between writing records and committing them leaves the offset
// behind the log: the next Tailer repeats that chunk and loses nothing.
func TestTailerCrashBeforeCommitRepeatsNeverLoses(t *testing.T) {
	dir, logPath := newSpool(t)
	tl := newTailer(t)
	if err := tl.Follow(dir); err != nil {
		t.Fatal(err)
	}
	appendRaw(t, dir, spoolStdout, "a\n")
	waitRecords(t, logPath, 1)
	appendRaw(t, dir, spoolStdout, "b\nc\n")
	waitRecords(t, logPath, 3)
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	// The state a kill after the second chunk's log write leaves: offset 2.
	f, err := os.OpenFile(filepath.Join(dir, spoolOffsets), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeOffset(f, 0, 2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	appendRaw(t, dir, spoolStdout, "d\n")
	tl2 := newTailer(t)
	if err := tl2.Follow(dir); err != nil {
		t.Fatal(err)
	}
	got := waitRecords(t, logPath, 6)
	if want := "[stdout F a stdout F b stdout F c stdout F b stdout F c stdout F d]"; fmt.Sprint(got) != want {
		t.Fatalf("records = %q, want %s", got, want)
	}
}

func TestTailerFinishDrainsAndRemoves(t *testing.T) {
	before := runtime.NumGoroutine()
	dir, logPath := newSpool(t)
	tl := newTailer(t)
	if err := tl.Follow(dir); err != nil {
		t.Fatal(err)
	}
	// Appended just before the task is deleted: Finish must still see it.
	appendRaw(t, dir, spoolStdout, "last\nno newline")
	appendRaw(t, dir, spoolStderr, "bye\n")
	if err := tl.Finish(dir); err != nil {
		t.Fatal(err)
	}
	got := records(t, logPath)
	want := map[string]bool{"stdout F last": true, "stdout P no newline": true, "stderr F bye": true}
	if len(got) != len(want) {
		t.Fatalf("records after Finish = %q", got)
	}
	for _, r := range got {
		if !want[r] {
			t.Fatalf("records after Finish = %q", got)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("spool dir still there after Finish: %v", err)
	}
	if n := tl.Followed(); n != 0 {
		t.Errorf("Followed() = %d after Finish", n)
	}
	if err := tl.Finish(dir); err != nil { // gone: nothing to do
		t.Errorf("second Finish: %v", err)
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("goroutines: %d before, %d after Finish and Close", before, n)
	}
	if err := tl.Follow(dir); err != ErrTailerClosed {
		t.Errorf("Follow after Close = %v, want ErrTailerClosed", err)
	}
}

func TestTailerFollowWithoutSpool(t *testing.T) {
	tl := newTailer(t)
	if err := tl.Follow(filepath.Join(t.TempDir(), "none")); !os.IsNotExist(err) && !strings.Contains(fmt.Sprint(err), "no such file") {
		t.Fatalf("Follow of a missing spool = %v, want not-exist", err)
	}
}

// Consumed raw bytes give their disk blocks back; the file keeps its size.
func TestTailerFreesConsumedBlocks(t *testing.T) {
	dir, logPath := newSpool(t)
	tl := newTailer(t)
	if err := tl.Follow(dir); err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("y", 1023) + "\n"
	appendRaw(t, dir, spoolStdout, strings.Repeat(line, 3*1024)) // 3 MiB
	waitRecords(t, logPath, 3*1024)
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, spoolStdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != 3<<20 {
		t.Errorf("raw size %d, want %d", st.Size, 3<<20)
	}
	if used := st.Blocks * 512; used > 1<<20+chunkSize {
		t.Errorf("raw file still uses %d bytes of disk after 3 MiB were consumed", used)
	}
}

func TestOffsetsRoundTrip(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "offsets"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, err := readOffset(f, 1); v != 0 || err != nil {
		t.Fatalf("empty slot = %d, %v", v, err)
	}
	_ = writeOffset(f, 1, 12345)
	_ = writeOffset(f, 0, 7)
	a, _ := readOffset(f, 0)
	b, _ := readOffset(f, 1)
	if a != 7 || b != 12345 {
		t.Fatalf("offsets = %d, %d", a, b)
	}
	if _, err := f.WriteAt([]byte("garbage!!"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := readOffset(f, 0); err == nil || !bytes.Contains([]byte(err.Error()), []byte("slot 0")) {
		t.Fatalf("garbage slot: err = %v", err)
	}
}

// An unterminated rest goes out as a P record once the stream stayed
// quiet for PartialFlushDelay; the line's end follows as an F record.
func TestTailerFlushesUnterminatedRestAfterDelay(t *testing.T) {
	dir, logPath := newSpool(t)
	tl := newTailer(t)
	if err := tl.Follow(dir); err != nil {
		t.Fatal(err)
	}
	appendRaw(t, dir, spoolStdout, "hal")
	if got := waitRecords(t, logPath, 1); fmt.Sprint(got) != "[stdout P hal]" {
		t.Fatalf("records = %q, want the rest flushed as P", got)
	}
	appendRaw(t, dir, spoolStdout, "f\n")
	if got := waitRecords(t, logPath, 2); fmt.Sprint(got) != "[stdout P hal stdout F f]" {
		t.Fatalf("records = %q", got)
	}
}

// Followed streams that are quiet hold no goroutine: the tailer's count
// stays at its dispatcher's however many spools it follows.
func TestTailerQuietStreamsHoldNoGoroutine(t *testing.T) {
	tl := newTailer(t)
	before := runtime.NumGoroutine()
	const spools = 20
	var logs []string
	for i := 0; i < spools; i++ {
		dir, logPath := newSpool(t)
		if err := tl.Follow(dir); err != nil {
			t.Fatal(err)
		}
		appendRaw(t, dir, spoolStdout, fmt.Sprintf("line %d\n", i))
		appendRaw(t, dir, spoolStderr, "x") // a rest: its flush timer runs out too
		logs = append(logs, logPath)
	}
	for _, l := range logs {
		waitRecords(t, l, 2)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines with %d quiet spools followed, %d before", n, spools, before)
	}
	if n := tl.Followed(); n != spools {
		t.Fatalf("following %d spools, want %d", n, spools)
	}
}
