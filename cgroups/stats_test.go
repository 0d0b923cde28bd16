package cgroups

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeFake(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCPUAndMemoryStatsFake(t *testing.T) {
	const ctr = "/miniagent-test/besteffort/podu1/c1"
	for _, tc := range []struct {
		version int
		files   map[string]string // below the fake root
		cpu     uint64
		ws      int64
	}{
		{1, map[string]string{
			"cpuacct" + ctr + "/cpuacct.usage":        "123456789\n",
			"memory" + ctr + "/memory.usage_in_bytes": "10485760\n",
			"memory" + ctr + "/memory.stat":           "cache 4096\ninactive_file 99\ntotal_inactive_file 2097152\n",
		}, 123456789, 8388608},
		{2, map[string]string{
			ctr + "/cpu.stat":       "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
			ctr + "/memory.current": "10485760\n",
			ctr + "/memory.stat":    "anon 4096\ninactive_file 1048576\n",
		}, 2500000, 9437184},
	} {
		root := t.TempDir()
		if tc.version == 1 {
			for _, c := range []string{"cpu", "cpuacct", "memory"} {
				os.MkdirAll(filepath.Join(root, c), 0o755)
			}
		} else {
			writeFake(t, filepath.Join(root, "cgroup.controllers"), "cpu memory pids\n")
		}
		for f, c := range tc.files {
			writeFake(t, filepath.Join(root, f), c)
		}
		m, err := NewManager("/miniagent-test", WithFakeRoot(root, tc.version))
		if err != nil {
			t.Fatal(err)
		}
		cpu, err := m.CPUUsage(ctr)
		if err != nil || cpu != tc.cpu {
			t.Errorf("v%d: CPUUsage = %d, %v; want %d", tc.version, cpu, err, tc.cpu)
		}
		mem, err := m.MemoryStats(ctr)
		if err != nil || mem.WorkingSet != tc.ws {
			t.Errorf("v%d: working set = %+v, %v; want %d", tc.version, mem, err, tc.ws)
		}
		if _, err := m.CPUUsage("/miniagent-test/gone"); err == nil {
			t.Errorf("v%d: CPUUsage of a missing cgroup: no error", tc.version)
		}
	}
}

func TestCPURate(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		prev, cur CPUSample
		want      uint64
		wantOK    bool
	}{
		{"one core busy", CPUSample{t0, 1e9}, CPUSample{t0.Add(time.Second), 2e9}, 1e9, true},
		{"3 millicores over 10s", CPUSample{t0, 0}, CPUSample{t0.Add(10 * time.Second), 30e6}, 3e6, true},
		{"idle", CPUSample{t0, 5}, CPUSample{t0.Add(time.Second), 5}, 0, true},
		{"same instant", CPUSample{t0, 0}, CPUSample{t0, 10}, 0, false},
		{"counter went back", CPUSample{t0, 100}, CPUSample{t0.Add(time.Second), 10}, 0, false},
	} {
		got, ok := CPURate(tc.prev, tc.cur)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: %d %v, want %d %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}
