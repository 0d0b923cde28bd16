package crilog

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as the log process when re-executed.
func TestMain(m *testing.M) {
	if os.Getenv("CRILOG_SHIM_TEST") == "1" {
		os.Exit(ShimMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// startShim runs the test binary as the log process with the binary log
// protocol's fds and returns the write ends of stdout and stderr.
func startShim(t *testing.T, args ...string) (*exec.Cmd, *os.File, *os.File) {
	t.Helper()
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	readyR, readyW, _ := os.Pipe()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CRILOG_SHIM_TEST=1")
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outR.Close()
	errR.Close()
	readyW.Close()
	// Like the runc shim: block until the log process closes the ready pipe.
	done := make(chan struct{})
	go func() { b := make([]byte, 1); _, _ = readyR.Read(b); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("log process never became ready")
	}
	readyR.Close()
	return cmd, outW, errW
}

var recordRE = regexp.MustCompile(`^(\S+) (stdout|stderr) ([FP]) (.*)$`)

func TestShimMainWritesBothStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pods", "ns_name_uid", "c", "0.log")
	cmd, out, errw := startShim(t, path, "")
	out.WriteString("hello\n")
	errw.WriteString("err\n")
	out.WriteString("no newline")
	out.Close()
	errw.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("log process: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		m := recordRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("malformed record %q", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Errorf("timestamp %q: %v", m[1], err)
		}
		got[m[2]+" "+m[3]+" "+m[4]] = true
	}
	for _, want := range []string{"stdout F hello", "stderr F err", "stdout P no newline"} {
		if !got[want] {
			t.Errorf("missing %q in\n%s", want, data)
		}
	}
	if len(got) != 3 {
		t.Errorf("want 3 records, got\n%s", data)
	}
}

func TestShimMainAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	cmd, out, errw := startShim(t, path)
	out.WriteString("new\n")
	out.Close()
	errw.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "old\n") || !strings.HasSuffix(string(data), " stdout F new\n") {
		t.Fatalf("file not appended: %q", data)
	}
}

func TestShimMainMissingPath(t *testing.T) {
	if code := ShimMain([]string{"", ""}); code == 0 {
		t.Fatal("ShimMain without a path succeeded")
	}
}
