package crilog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// A spool is the per-container directory of the in-agent log path. The
// containerd shim appends the container's raw stdout and stderr to two
// regular files in it (the shim's "copy to a plain file" IO, no log
// process), and the agent's Tailer turns them into CRI records in the log
// file, remembering how far it got in a small offsets file:
//
//	<dir>/stdout, <dir>/stderr  raw streams, appended to by the shim
//	<dir>/log                   the CRI log file path
//	<dir>/offsets               committed offsets: stdout at byte 0, stderr at 21
//
// A committed offset counts the bytes that are in the log file as records;
// it is written after the records. Because the raw bytes are in the page
// cache the moment the container writes them, nothing is lost while the
// agent is down (even if the container exits meanwhile), and a SIGKILL
// between writing records and committing them repeats at most that one
// chunk of records.
const (
	spoolStdout  = "stdout"
	spoolStderr  = "stderr"
	spoolLogPath = "log"
	spoolOffsets = "offsets"
	offsetWidth  = 21 // 20 digits and a newline
)

// CreateSpool makes the spool directory dir for a container logging to
// logPath and returns the paths the shim is to append stdout and stderr to.
// An existing spool of the same container is kept as it is.
func CreateSpool(dir, logPath string) (stdout, stderr string, err error) {
	if !filepath.IsAbs(logPath) {
		return "", "", fmt.Errorf("create log spool %s: log path %q is not absolute", dir, logPath)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create log spool: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, spoolLogPath), []byte(logPath), 0o600); err != nil {
		return "", "", fmt.Errorf("create log spool: %w", err)
	}
	for _, name := range []string{spoolStdout, spoolStderr, spoolOffsets} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return "", "", fmt.Errorf("create log spool: %w", err)
		}
		f.Close()
	}
	return filepath.Join(dir, spoolStdout), filepath.Join(dir, spoolStderr), nil
}

// IsSpool reports whether dir holds a log spool.
func IsSpool(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, spoolLogPath))
	return err == nil
}

// openSpool opens what a Tailer needs of dir: the raw stream files, the
// offsets file with both committed offsets, and the CRI log file.
func openSpool(dir string) (sp *spoolFiles, err error) {
	lp, err := os.ReadFile(filepath.Join(dir, spoolLogPath))
	if err != nil {
		return nil, fmt.Errorf("open log spool: %w", err)
	}
	sp = &spoolFiles{}
	defer func() {
		if err != nil {
			sp.close()
		}
	}()
	for i, name := range []string{spoolStdout, spoolStderr} {
		// Read-write: freeing consumed blocks (punchHole) needs a writable fd.
		if sp.raw[i], err = os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0); err != nil {
			return nil, fmt.Errorf("open log spool: %w", err)
		}
	}
	if sp.offsets, err = os.OpenFile(filepath.Join(dir, spoolOffsets), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("open log spool: %w", err)
	}
	for i := range sp.start {
		if sp.start[i], err = readOffset(sp.offsets, i); err != nil {
			return nil, fmt.Errorf("open log spool %s: %w", dir, err)
		}
	}
	if sp.log, err = openLog(string(lp)); err != nil {
		return nil, err
	}
	return sp, nil
}

type spoolFiles struct {
	raw     [2]*os.File // stdout, stderr
	offsets *os.File
	log     *os.File
	start   [2]int64 // committed offsets when opened
}

func (sp *spoolFiles) close() {
	for _, f := range []*os.File{sp.raw[0], sp.raw[1], sp.offsets, sp.log} {
		if f != nil {
			f.Close()
		}
	}
}

// readOffset reads slot i of the offsets file; a slot never written is 0.
func readOffset(f *os.File, i int) (int64, error) {
	b := make([]byte, offsetWidth)
	n, err := f.ReadAt(b, int64(i*offsetWidth))
	if n == 0 && err != nil {
		return 0, nil // not committed yet
	}
	s := string(bytes.TrimSpace(b[:n]))
	if s == "" {
		return 0, nil
	}
	v, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil || v < 0 {
		return 0, fmt.Errorf("offsets slot %d: bad value %q", i, s)
	}
	return v, nil
}

// writeOffset commits v to slot i with one pwrite.
func writeOffset(f *os.File, i int, v int64) error {
	b := fmt.Appendf(nil, "%020d\n", v)
	_, err := f.WriteAt(b, int64(i*offsetWidth))
	return err
}

// punchHole frees the disk blocks of [from, to) of a raw stream file that
// are already in the log; the file keeps its size, so the shim's appends
// and the committed offsets are unaffected. Filesystems without hole
// punching just keep the blocks.
func punchHole(f *os.File, from, to int64) error {
	from, to = from&^4095, to&^4095
	if to <= from {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, from, to-from)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	return err
}
