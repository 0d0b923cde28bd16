package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFlatValue(t *testing.T) {
	oomControl := "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
	tests := []struct {
		data, key string
		want      uint64
		ok        bool
	}{
		{oomControl, "oom_kill", 3, true},
		{oomControl, "oom_kill_disable", 0, true},
		{oomControl, "oom", 0, false},
		{"total_inactive_file 4096\ninactive_file 1\n", "inactive_file", 1, true},
		{"oom_kill x\n", "oom_kill", 0, false},
		{"", "oom_kill", 0, false},
	}
	for _, tc := range tests {
		got, ok := flatValue(tc.data, tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("flatValue(%q, %q) = %d, %v; want %d, %v", tc.data, tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWorkingSet(t *testing.T) {
	tests := []struct {
		usage   uint64
		stat    string
		want    int64
		wantErr bool
	}{
		{1000, "cache 600\ntotal_inactive_file 300\n", 700, false},
		{1000, "total_inactive_file 1000\n", 0, false},
		{1000, "total_inactive_file 1500\n", 0, false},
		{1000, "inactive_file 300\n", 0, true},
	}
	for _, tc := range tests {
		got, err := workingSet(tc.usage, tc.stat)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("workingSet(%d, %q) = %d, %v; want %d, err %v", tc.usage, tc.stat, got, err, tc.want, tc.wantErr)
		}
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Replace the file atomically: a poller must never read it half written
	// (cgroup files are never half written either).
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFindCgroup(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"burstable/podA/abc", "besteffort/podB/def", "podC/ghi"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := findCgroup(root, "def")
	if err != nil || got != filepath.Join(root, "besteffort/podB/def") {
		t.Errorf("findCgroup(def) = %q, %v", got, err)
	}
	if _, err := findCgroup(root, "xyz"); err == nil || !strings.Contains(err.Error(), "no cgroup xyz") {
		t.Errorf("findCgroup(xyz) error = %v", err)
	}
	if _, err := findCgroup(filepath.Join(root, "missing"), "abc"); err == nil {
		t.Error("findCgroup under a missing root: no error")
	}
}

func TestPollKills(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "memory.oom_control")
	write(t, file, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
	ch := pollKills(context.Background(), dir, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	killed := time.Now()
	write(t, file, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
	select {
	case k := <-ch:
		if k.err != nil {
			t.Fatal(k.err)
		}
		if k.first.Before(killed) || !k.before.Before(k.first) {
			t.Errorf("first %v before %v, kill written at %v", k.first, k.before, killed)
		}
		if k.first.Sub(killed) > 500*time.Millisecond {
			t.Errorf("kill seen %v after it happened", k.first.Sub(killed))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("poller did not report the kill")
	}
}

func TestPollKillsMisses(t *testing.T) {
	t.Run("already killed", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "memory.oom_control"), "oom_kill 1\n")
		if k := <-pollKills(context.Background(), dir, time.Millisecond); k.err == nil || !strings.Contains(k.err.Error(), "already 1") {
			t.Errorf("err = %v", k.err)
		}
	})
	t.Run("cgroup removed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "c")
		write(t, filepath.Join(dir, "memory.oom_control"), "oom_kill 0\n")
		ch := pollKills(context.Background(), dir, time.Millisecond)
		time.Sleep(10 * time.Millisecond)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if k := <-ch; k.err == nil || !strings.Contains(k.err.Error(), "removed") {
			t.Errorf("err = %v", k.err)
		}
	})
	t.Run("stopped", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "memory.oom_control"), "oom_kill 0\n")
		ctx, cancel := context.WithCancel(context.Background())
		ch := pollKills(ctx, dir, time.Millisecond)
		cancel()
		if k := <-ch; k.err == nil {
			t.Error("no error after cancel without a kill")
		}
	})
}

func TestPollCrossing(t *testing.T) {
	dir := t.TempDir()
	set := func(usage, inactive int) {
		// Write stat first: a read in between sees the old usage with the
		// new stat, which is still under the level in this sequence.
		write(t, filepath.Join(dir, "memory.stat"), "cache 0\ntotal_inactive_file "+strconv.Itoa(inactive)+"\n")
		write(t, filepath.Join(dir, "memory.usage_in_bytes"), strconv.Itoa(usage)+"\n")
	}
	set(100, 50) // working set 50
	ctx, cancel := context.WithCancel(context.Background())
	ch := pollCrossing(ctx, dir, 500, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	set(900, 500) // 400: page cache does not count
	time.Sleep(20 * time.Millisecond)
	crossed := time.Now()
	set(900, 100) // 800: over
	time.Sleep(20 * time.Millisecond)
	freed := time.Now()
	set(200, 100) // 100: back under
	time.Sleep(20 * time.Millisecond)
	cancel()
	x := <-ch
	if x.err != nil {
		t.Fatal(x.err)
	}
	if x.first.Before(crossed) || x.first.After(freed) || !x.before.Before(x.first) {
		t.Errorf("crossing at %v (read before %v), written at %v", x.first, x.before, crossed)
	}
	if x.freed.Before(freed) {
		t.Errorf("freed at %v, written at %v", x.freed, freed)
	}
	if x.peak != 800 {
		t.Errorf("peak %d, want 800", x.peak)
	}
}
