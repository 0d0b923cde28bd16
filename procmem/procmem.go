// Package procmem hands back to the kernel the pages of the agent's own
// executable that it no longer uses.
//
// A process's RSS counts every page of its executable it has mapped, and a
// page once mapped stays mapped. The daemon's binary is large (client-go's
// API types for cluster mode, the containerd client, gRPC): start-up, the
// scheme registrations and the first pod starts touch most of its ~58 MiB
// of code and read-only data, and most of it is never run again. Unmapping
// the read-only mappings (madvise MADV_DONTNEED) leaves the pages in the
// page cache, where the kernel may reclaim them; a page the agent touches
// again comes back by a minor fault. Writable mappings are never touched:
// their pages may hold writes.
package procmem

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/utils/clock"
)

// FirstDrop is how long after start the daemon first drops the pages:
// start-up (package init, the checkpointed pods' restore) is over by then.
const FirstDrop = time.Minute

// Range is the address range [Start, End) of one mapping.
type Range struct{ Start, End uintptr }

// ImageRanges returns the read-only mappings of the file exe in a
// /proc/PID/maps listing (a replaced file shows as "exe (deleted)").
func ImageRanges(maps io.Reader, exe string) ([]Range, error) {
	var out []Range
	sc := bufio.NewScanner(maps)
	for n := 1; sc.Scan(); n++ {
		// address perms offset dev inode [path]; the path may hold spaces.
		fields := strings.SplitN(sc.Text(), " ", 6)
		if len(fields) < 6 {
			continue // an anonymous mapping
		}
		path := strings.TrimLeft(fields[5], " ")
		if path != exe && path != exe+" (deleted)" {
			continue
		}
		perms := fields[1]
		if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' {
			continue // writable, or not readable
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("maps line %d: bad address range %q", n, fields[0])
		}
		out = append(out, Range{uintptr(start), uintptr(end)})
	}
	return out, sc.Err()
}

// Drop unmaps the pages of this process's read-only executable mappings.
// It returns the process's file-backed RSS (RssFile) before and after.
func Drop() (before, after int64, err error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0, err
	}
	ranges, err := ImageRanges(f, strings.TrimSuffix(exe, " (deleted)"))
	_ = f.Close()
	if err != nil {
		return 0, 0, err
	}
	if len(ranges) == 0 {
		return 0, 0, fmt.Errorf("no read-only mapping of %s in /proc/self/maps", exe)
	}
	before, _ = RSSFile()
	for _, r := range ranges {
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, r.Start, r.End-r.Start, unix.MADV_DONTNEED); e != 0 {
			return before, 0, fmt.Errorf("madvise %#x-%#x: %w", r.Start, r.End, e)
		}
	}
	after, err = RSSFile()
	return before, after, err
}

// RSSFile is this process's file-backed resident memory in bytes
// (/proc/self/status RssFile).
func RSSFile() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return statusField(string(data), "RssFile")
}

// statusField reads a "Name:   N kB" line of /proc/PID/status, in bytes.
func statusField(status, name string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, name+":")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status %s: %q: %w", name, rest, err)
		}
		return v << 10, nil
	}
	return 0, fmt.Errorf("status has no %s line", name)
}

// Run drops the executable's pages first after start, then every
// interval (0: only once), until ctx ends. The first drop is logged at
// info, the others at debug; a failed one is logged and ends Run.
func Run(ctx context.Context, clk clock.Clock, start, interval time.Duration, log *slog.Logger) {
	wait := start
	for first := true; ; first = false {
		t := clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		before, after, err := Drop()
		if err != nil {
			log.Warn("drop the executable's unused pages", "err", err)
			return
		}
		level := slog.LevelDebug
		if first {
			level = slog.LevelInfo
		}
		log.Log(ctx, level, "dropped the executable's pages (those in use come back at once)",
			"rss_file_before_mib", before>>20, "rss_file_after_mib", after>>20)
		if interval <= 0 {
			return
		}
		wait = interval
	}
}
