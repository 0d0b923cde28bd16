package oom

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func readOwnScore(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCountersFakeRoot(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("memory/ma/pod1/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
	write("ma/pod2/c2/memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n")
	write("ma/pod3/c3/memory.events", "low 0\n")
	c := Counters{Root: root}
	tests := []struct {
		path    string
		want    uint64
		wantErr bool
	}{
		{"/ma/pod1/c1", 2, false},
		{"/ma/pod2/c2", 1, false},
		{"/ma/pod3/c3", 0, true},
		{"/ma/missing", 0, true},
	}
	for _, tc := range tests {
		got, err := c.OOMKills(tc.path)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("OOMKills(%s) = %d, %v; want %d, err %v", tc.path, got, err, tc.want, tc.wantErr)
		}
	}
	if !c.Killed("/ma/pod1/c1", 1) || c.Killed("/ma/pod1/c1", 2) || c.Killed("/ma/missing", 0) {
		t.Error("Killed does not compare against the earlier counter")
	}
}

// TestMain lets the test binary act as a memory hog inside a cgroup.
func TestMain(m *testing.M) {
	if mb := os.Getenv("OOM_TEST_HOG_MB"); mb != "" {
		n, _ := strconv.Atoi(mb)
		_, _ = os.Stdin.Read(make([]byte, 1)) // wait until moved into the cgroup
		buf := make([]byte, n<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		fmt.Println(len(buf))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestParentLimitKillCountsInVictimCgroup checks on a real cgroup v1 memory
// hierarchy that a kill forced by an ancestor's limit is counted in the
// victim's own cgroup (what the agent relies on), not in the ancestor's and
// not in a sibling's.
func TestParentLimitKillCountsInVictimCgroup(t *testing.T) {
	mem := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(mem, "memory.limit_in_bytes")); err != nil {
		t.Skip("no cgroup v1 memory hierarchy")
	}
	top := fmt.Sprintf("/miniagent-unit-oom-%d", os.Getpid())
	pod, victim, sibling := top+"/pod", top+"/pod/victim", top+"/pod/sibling"
	for _, p := range []string{victim, sibling} {
		if err := os.MkdirAll(filepath.Join(mem, p), 0o755); err != nil {
			t.Skipf("cannot create cgroups: %v", err)
		}
	}
	t.Cleanup(func() {
		for _, p := range []string{victim, sibling, pod, top} {
			_ = os.Remove(filepath.Join(mem, p))
		}
	})
	if err := os.WriteFile(filepath.Join(mem, pod, "memory.limit_in_bytes"), []byte("32M"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "OOM_TEST_HOG_MB=256")
	// The child waits for a byte on stdin, so it allocates only once moved.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mem, victim, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	_, _ = stdin.Write([]byte{1})
	if err := cmd.Wait(); err == nil {
		t.Fatal("the hog was not killed")
	}
	c := DefaultCounters
	for _, tc := range []struct {
		path string
		want uint64
	}{{victim, 1}, {pod, 0}, {sibling, 0}} {
		n, err := c.OOMKills(tc.path)
		if err != nil || n != tc.want {
			t.Errorf("oom_kill of %s = %d, %v; want %d", tc.path, n, err, tc.want)
		}
	}
	if !KilledInCgroup(victim) || KilledInCgroup(sibling, pod) {
		t.Error("KilledInCgroup disagrees with the counters")
	}
}
